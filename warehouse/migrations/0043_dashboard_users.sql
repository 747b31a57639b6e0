-- Who may sign in to the dashboards (warehouse.users). Every change of a user is a new row and
-- the newest row of a name (updated_at) is in force, so a change needs no mutation. Reads take
-- the newest with argMax, which is right before parts merge too; ReplacingMergeTree then drops
-- the older rows, with the hashes of old passwords. The password is kept as its argon2id hash
-- (a PHC string carrying its own salt and costs), never as text.
CREATE TABLE IF NOT EXISTS dashboard_users (
    name String,
    password_hash String COMMENT 'argon2id PHC string',
    role LowCardinality(String) COMMENT 'read or admin',
    disabled Bool,
    updated_at DateTime64(3, 'UTC'),
    updated_by String COMMENT 'who made the change: cli:<user>, bootstrap, an admin'
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name
