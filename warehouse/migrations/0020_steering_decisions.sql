-- Every change of a group's steering priority (delivery.steering.service.DecisionRecord), written
-- by the stream worker from the steering-decisions topic. docs/steering.md §5 explains the columns.
-- (instance, group_key, version, decided_at) identifies a decision: a replayed record replaces
-- itself, and a replica restarted from scratch that reuses a version number does not overwrite
-- its earlier decision.
CREATE TABLE IF NOT EXISTS steering_decisions (
    decided_at DateTime64(3, 'UTC'),
    instance LowCardinality(String) COMMENT 'steering replica (each keeps its own group state)',
    config_id LowCardinality(String) COMMENT 'fingerprint of the steering configuration',
    group_key String,
    country LowCardinality(String),
    asn Nullable(UInt32),
    device LowCardinality(String),
    stream_type LowCardinality(String),
    version UInt32 COMMENT 'the group''s decision version',
    from_pathway LowCardinality(String),
    to_pathway LowCardinality(String),
    previous_priority Array(LowCardinality(String)),
    priority Array(LowCardinality(String)),
    reason_code LowCardinality(String),
    reason_text String,
    figure_pathway Array(LowCardinality(String)) COMMENT 'the trusted figures the decision saw',
    figure_qoe Array(Float32),
    figure_adjusted Array(Float32),
    figure_views Array(UInt32),
    figure_level Array(UInt8) COMMENT 'back-off level (0 = exact group)'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (instance, group_key, version, decided_at)
TTL toDateTime(decided_at) + INTERVAL 180 DAY;
