-- The log of erasures (warehouse.privacy): two rows per erasure, `started` before anything is
-- deleted (writers check it, so a worker never writes the viewer's views back) and `done` with
-- the rows removed per table. The viewer is named by the SHA-256 of their id, never the id: the
-- log must not keep what it records the erasure of. Ordered by the hash, which writers look up
-- at every flush. No TTL: the log is the evidence that each erasure was done.
CREATE TABLE IF NOT EXISTS privacy_erasures (
    erasure_id String,
    erased_at DateTime64(3, 'UTC') COMMENT 'when the erasure began: views first seen until then are erased',
    viewer_id_hash String COMMENT 'hex SHA-256 of the viewer id as stored',
    requested_by String COMMENT 'who asked: an operator, a ticket, later the admin token',
    state LowCardinality(String) COMMENT 'started, then done',
    finished_at Nullable(DateTime64(3, 'UTC')),
    rows_removed Map(String, UInt64) COMMENT 'rows deleted per table (done rows)'
) ENGINE = MergeTree
ORDER BY (viewer_id_hash, erased_at);
