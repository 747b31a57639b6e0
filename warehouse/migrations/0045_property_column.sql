-- Tenancy groundwork: every raw event and every view is stored with its property (the app, brand
-- or environment it was posted for: the property id ingest resolved from the beacon's property key,
-- in the record's server context), so a later change can filter every read by it. A record without
-- one (written before properties existed) belongs to the default property, and so do rows stored
-- before this migration: they read the column's default.

ALTER TABLE beacon_events ADD COLUMN IF NOT EXISTS property LowCardinality(String) DEFAULT 'default'
    COMMENT 'the property id of the record (server.property); default: the default property';

-- A record ingest wrote before it knew properties has no server.property: the raw sink inserts
-- with input_format_json_defaults_for_missing_elements_in_named_tuple (warehouse.events), so the
-- missing element reads as '', which the view below maps to 'default'. Null engine: nothing is stored, only the parsed shape changes.
ALTER TABLE beacon_records MODIFY COLUMN server Tuple(
    received_at Int64, country String, region String, asn Nullable(UInt32),
    device_type String, os String, browser String, property String);

-- 0007's query, every column as it was, plus the property. MODIFY QUERY swaps it atomically.
ALTER TABLE beacon_records_to_events MODIFY QUERY
SELECT
    fromUnixTimestamp64Milli(server.received_at, 'UTC') AS received_at,
    fromUnixTimestamp64Milli(e.ts, 'UTC') AS ts,
    beacon.view_id AS view_id,
    beacon.viewer_id AS viewer_id,
    beacon.batch_seq AS batch_seq,
    e.seq AS seq,
    e.type AS type,
    e.playhead_ms AS playhead_ms,
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
    kafka_offset,
    if(server.property = '', 'default', server.property) AS property
FROM beacon_records
ARRAY JOIN
    beacon.events AS event,
    arrayMap(x -> JSONExtract(x, 'Tuple(ts Int64, seq UInt32, type String, playhead_ms UInt64)'), beacon.events) AS e;

-- A view belongs to the property of its first beacon (streams.sessionizer), fixed like its viewer.
ALTER TABLE views ADD COLUMN IF NOT EXISTS property LowCardinality(String) DEFAULT 'default'
    COMMENT 'the property id of the view''s first beacon; default: the default property'
