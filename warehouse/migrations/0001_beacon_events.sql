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
    attrs String COMMENT 'the event as the player sent it, JSON',
    kafka_source LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(received_at)
ORDER BY (view_id, seq)
TTL toDateTime(received_at) + INTERVAL {raw_retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- The sink inserts whole Kafka records here, as JSONEachRow; ClickHouse parses them and the
-- view below explodes each beacon into event rows. Nothing is stored in this table itself.
CREATE TABLE IF NOT EXISTS beacon_records (
    kafka_source LowCardinality(String),
    kafka_partition UInt16,
    kafka_offset UInt64,
    server Tuple(
        received_at Int64, country String, region String, asn Nullable(UInt32),
        device_type String, os String, browser String),
    beacon Tuple(
        view_id String, viewer_id String, batch_seq UInt32,
        sdk Tuple(name String, version String),
        context Tuple(
            cdn String, country String, region String, asn Nullable(UInt32), device_type String,
            os String, browser String, player_name String, player_version String, title_id String,
            stream_type String),
        events Array(String))
) ENGINE = Null;

-- Edge geo headers beat what a client claims; a client's device hints beat user-agent parsing.
CREATE MATERIALIZED VIEW IF NOT EXISTS beacon_records_to_events TO beacon_events AS
SELECT
    fromUnixTimestamp64Milli(server.received_at, 'UTC') AS received_at,
    fromUnixTimestamp64Milli(JSONExtractInt(event, 'ts'), 'UTC') AS ts,
    beacon.view_id AS view_id,
    beacon.viewer_id AS viewer_id,
    beacon.batch_seq AS batch_seq,
    JSONExtractUInt(event, 'seq') AS seq,
    JSONExtractString(event, 'type') AS type,
    JSONExtractUInt(event, 'playhead_ms') AS playhead_ms,
    beacon.context.cdn AS cdn,
    if(server.country != '', server.country, beacon.context.country) AS country,
    if(server.region != '', server.region, beacon.context.region) AS region,
    coalesce(server.asn, beacon.context.asn, 0) AS asn,
    if(beacon.context.device_type != '', beacon.context.device_type, server.device_type) AS device_type,
    if(beacon.context.os != '', beacon.context.os, server.os) AS os,
    if(beacon.context.browser != '', beacon.context.browser, server.browser) AS browser,
    beacon.context.player_name AS player_name,
    beacon.context.player_version AS player_version,
    beacon.context.title_id AS title_id,
    if(beacon.context.stream_type = '', 'vod', beacon.context.stream_type) AS stream_type,
    beacon.sdk.name AS sdk_name,
    beacon.sdk.version AS sdk_version,
    event AS attrs,
    kafka_source,
    kafka_partition,
    kafka_offset
FROM beacon_records
ARRAY JOIN beacon.events AS event;

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
