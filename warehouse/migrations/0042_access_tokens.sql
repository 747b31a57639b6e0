-- Access tokens of the APIs (warehouse.access): one row per token and version. Creating a token
-- writes its first version; revoking it writes a newer one with revoked_at set, so a revocation
-- is an insert that every replica's next snapshot sees, not a mutation. Readers take the newest
-- version with FINAL (the table is small). The secret is never stored: only its argon2id hash.
CREATE TABLE IF NOT EXISTS access_tokens (
    token_id String COMMENT 'the public part of a token, qoe_<token_id>_<secret>: 16 hex digits',
    name String COMMENT 'what the token is for, e.g. grafana',
    scopes Array(LowCardinality(String)) COMMENT 'read, admin (admin implies read)',
    secret_hash String COMMENT 'argon2id hash of the secret (a PHC string with its salt and parameters)',
    created_at DateTime64(3, 'UTC'),
    created_by String COMMENT 'who created it: a token, an operator at the cli, QOE_ADMIN_TOKEN',
    revoked_at Nullable(DateTime64(3, 'UTC')),
    revoked_by String,
    version UInt64 COMMENT 'ms of the change: the newest version of a token wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY token_id;
