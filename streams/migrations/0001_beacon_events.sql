-- Raw player events, one row per event, written by the Faust sink (streams.sink).
-- ReplacingMergeTree on (view_id, seq) folds a beacon the SDK retried after a lost 202; the sink's
-- offset ledger keeps a restarted worker from writing anything twice in the first place.
CREATE TABLE IF NOT EXISTS beacon_events (
    received_at DateTime64(3, 'UTC'),
    ts DateTime64(3, 'UTC'),
    view_id String,
    viewer_id String,
    batch_seq UInt32,
    seq UInt32,
    type LowCardinality(String),
    playhead_ms UInt64,
    cdn LowCardinality(String),
    country LowCardinality(String),
    region LowCardinality(String),
    asn UInt32,
    device_type LowCardinality(String),
    os LowCardinality(String),
    browser LowCardinality(String),
    player_name LowCardinality(String),
    player_version LowCardinality(String),
    title_id String,
    stream_type LowCardinality(String),
    sdk_name LowCardinality(String),
    sdk_version LowCardinality(String),
    attrs String,
    kafka_source LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(received_at)
ORDER BY (view_id, seq)
TTL toDateTime(received_at) + INTERVAL {raw_retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Events per minute, for live dashboards without scanning raw rows.
CREATE TABLE IF NOT EXISTS events_per_minute (
    minute DateTime('UTC'),
    type LowCardinality(String),
    cdn LowCardinality(String),
    events UInt64
) ENGINE = SummingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, type, cdn)
TTL minute + INTERVAL {raw_retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_minute_mv TO events_per_minute AS
SELECT toStartOfMinute(received_at) AS minute, type, cdn, count() AS events
FROM beacon_events
GROUP BY minute, type, cdn;
