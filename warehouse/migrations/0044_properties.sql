-- Properties (warehouse.properties): the apps, brands or environments one deployment serves, each
-- with the public, write-only key its players post beacons and CMCD reports with. One row per
-- property and version: creating a property writes its first version; revoking it writes a newer
-- one with revoked_at set, so a revocation is an insert that the gateway's next key snapshot
-- sees, not a mutation. Creating a revoked id again writes a newer version with a new key (a key
-- rotation: the old key stays dead). Readers take the newest version with FINAL (the table is small).
CREATE TABLE IF NOT EXISTS properties (
    property_id String COMMENT 'a slug: a-z 0-9 -, up to 63; stored with every event of the property',
    name String COMMENT 'what the property is, e.g. the web player of example.com',
    key String COMMENT 'the public key players send, qoe_pk_<24 hex digits>: grants posting beacons only',
    origins Array(String) COMMENT 'browser origins allowed to post, e.g. https://*.example.com; empty: any',
    created_at DateTime64(3, 'UTC'),
    created_by String COMMENT 'who created it: a token, an operator at the cli, qoe up',
    revoked_at Nullable(DateTime64(3, 'UTC')),
    revoked_by String,
    version UInt64 COMMENT 'ms of the change: the newest version of a property wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY property_id;
