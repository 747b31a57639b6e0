-- Tenancy: the property is a view dimension (schemas.dimensions), so the rollups are sliced by it
-- like by country, and the Stats API filters and breaks down by it: a token bound to a property
-- reads its property's rows only. The sessionizer writes view_deltas.property (the view's first
-- beacon's property, as views.property since 0045); qoe_minute and qoe_hour get dimension
-- 'property' rows, the cube a property column. Run with the workers stopped, as every migration.
--
-- What was rolled up before this migration has no property: it belongs to the default property.
-- The deltas and the cube rows read the column's default; qoe_minute and qoe_hour get a copy of
-- their totals as the default property's rows, so a filter on it reads them too.

ALTER TABLE view_deltas ADD COLUMN IF NOT EXISTS property LowCardinality(String) DEFAULT 'default'
    COMMENT 'the property id of the view (its first beacon''s); default: the default property';

-- A sliced column of the cube is in its sorting key: cells of different properties must never
-- merge. ClickHouse appends a column to the key only in the ALTER that adds it, and only without a
-- default expression (one could differ from row to row and unsort the parts written before); the
-- default comes next. It is a constant, so every older part, which reads it for the column it
-- lacks, stays sorted. The primary key (the index) stays the old sorting key.
ALTER TABLE qoe_minute_cube
    ADD COLUMN IF NOT EXISTS property LowCardinality(String),
    MODIFY ORDER BY (minute, cdn, country, asn, device_type, player_name, stream_type, title_id, property);

ALTER TABLE qoe_minute_cube MODIFY COLUMN property LowCardinality(String) DEFAULT 'default'
    COMMENT 'the property id of the views; default: the default property';

-- The totals ('all') so far are the default property's. Once, even if this migration is run again.
-- (In a subquery: ClickHouse's WHERE would see the replaced dimension, not the stored one.)
INSERT INTO qoe_minute SELECT * REPLACE ('property' AS dimension, 'default' AS value)
FROM (SELECT * FROM qoe_minute WHERE dimension = 'all')
WHERE (SELECT count() FROM qoe_minute WHERE dimension = 'property') = 0;

INSERT INTO qoe_hour SELECT * REPLACE ('property' AS dimension, 'default' AS value)
FROM (SELECT * FROM qoe_hour WHERE dimension = 'all')
WHERE (SELECT count() FROM qoe_hour WHERE dimension = 'property') = 0;

-- 0003's queries, every column as it was, plus the property. MODIFY QUERY swaps each atomically.
ALTER TABLE qoe_minute_mv MODIFY QUERY
SELECT
    dim.1 AS dimension,
    dim.2 AS value,
    minute,
    sum(watch_ms) AS watch_ms,
    sum(playing_ms) AS playing_ms,
    sum(stall_ms) AS stall_ms,
    sum(seek_ms) AS seek_ms,
    sum(stall_count) AS stall_count,
    sum(bitrate_ms) AS bitrate_ms,
    sum(bitrate_weight_ms) AS bitrate_weight_ms,
    sum(upscale_ms) AS upscale_ms,
    sum(upscale_weight_ms) AS upscale_weight_ms,
    sum(upswitches) AS upswitches,
    sum(downswitches) AS downswitches,
    sum(dropped_frames) AS dropped_frames,
    sum(total_frames) AS total_frames,
    sum(events) AS events,
    sum(attempts) AS attempts,
    sum(plays) AS plays,
    sum(vst_count) AS vst_count,
    sum(vst_sum_ms) AS vst_sum_ms,
    sum(ebvs) AS ebvs,
    sum(short_exits) AS short_exits,
    sum(vsf) AS vsf,
    sum(vsf_business) AS vsf_business,
    sum(vpf) AS vpf,
    sum(vpf_business) AS vpf_business,
    sum(ended_views) AS ended_views,
    sum(ended_stall_count) AS ended_stall_count,
    sum(ended_stall_ms) AS ended_stall_ms,
    sum(ended_watch_ms) AS ended_watch_ms,
    sum(scored_views) AS scored_views,
    sum(score_sum) AS score_sum,
    quantileTDigestStateIf(vst_ms, vst_samples > 0) AS vst_digest,
    sumForEachState(CAST(active_samples, 'Array(Int64)')) AS active_samples
FROM view_deltas
ARRAY JOIN [
    ('all', ''), ('property', property), ('cdn', cdn), ('country', country), ('asn', toString(asn)),
    ('device_type', device_type), ('player', player_name), ('title', title_id), ('stream_type', stream_type)
] AS dim
GROUP BY dimension, value, minute;

ALTER TABLE qoe_minute_cube_mv MODIFY QUERY
SELECT
    minute,
    cdn,
    country,
    asn,
    device_type,
    player_name,
    stream_type,
    title_id,
    property,
    sum(watch_ms) AS watch_ms,
    sum(playing_ms) AS playing_ms,
    sum(stall_ms) AS stall_ms,
    sum(seek_ms) AS seek_ms,
    sum(stall_count) AS stall_count,
    sum(bitrate_ms) AS bitrate_ms,
    sum(bitrate_weight_ms) AS bitrate_weight_ms,
    sum(upscale_ms) AS upscale_ms,
    sum(upscale_weight_ms) AS upscale_weight_ms,
    sum(upswitches) AS upswitches,
    sum(downswitches) AS downswitches,
    sum(dropped_frames) AS dropped_frames,
    sum(total_frames) AS total_frames,
    sum(events) AS events,
    sum(attempts) AS attempts,
    sum(plays) AS plays,
    sum(vst_count) AS vst_count,
    sum(vst_sum_ms) AS vst_sum_ms,
    sum(ebvs) AS ebvs,
    sum(short_exits) AS short_exits,
    sum(vsf) AS vsf,
    sum(vsf_business) AS vsf_business,
    sum(vpf) AS vpf,
    sum(vpf_business) AS vpf_business,
    sum(ended_views) AS ended_views,
    sum(ended_stall_count) AS ended_stall_count,
    sum(ended_stall_ms) AS ended_stall_ms,
    sum(ended_watch_ms) AS ended_watch_ms,
    sum(scored_views) AS scored_views,
    sum(score_sum) AS score_sum,
    quantileTDigestStateIf(vst_ms, vst_samples > 0) AS vst_digest,
    sumForEachState(CAST(active_samples, 'Array(Int64)')) AS active_samples
FROM view_deltas
GROUP BY minute, cdn, country, asn, device_type, player_name, stream_type, title_id, property;

-- 0005's query, every column as it was, plus the property.
ALTER TABLE qoe_hour_mv MODIFY QUERY
SELECT
    dim.1 AS dimension,
    dim.2 AS value,
    toStartOfHour(minute) AS hour,
    sum(watch_ms) AS watch_ms,
    sum(playing_ms) AS playing_ms,
    sum(stall_ms) AS stall_ms,
    sum(seek_ms) AS seek_ms,
    sum(stall_count) AS stall_count,
    sum(bitrate_ms) AS bitrate_ms,
    sum(bitrate_weight_ms) AS bitrate_weight_ms,
    sum(upscale_ms) AS upscale_ms,
    sum(upscale_weight_ms) AS upscale_weight_ms,
    sum(upswitches) AS upswitches,
    sum(downswitches) AS downswitches,
    sum(dropped_frames) AS dropped_frames,
    sum(total_frames) AS total_frames,
    sum(events) AS events,
    sum(attempts) AS attempts,
    sum(plays) AS plays,
    sum(vst_count) AS vst_count,
    sum(vst_sum_ms) AS vst_sum_ms,
    sum(ebvs) AS ebvs,
    sum(short_exits) AS short_exits,
    sum(vsf) AS vsf,
    sum(vsf_business) AS vsf_business,
    sum(vpf) AS vpf,
    sum(vpf_business) AS vpf_business,
    sum(ended_views) AS ended_views,
    sum(ended_stall_count) AS ended_stall_count,
    sum(ended_stall_ms) AS ended_stall_ms,
    sum(ended_watch_ms) AS ended_watch_ms,
    sum(scored_views) AS scored_views,
    sum(score_sum) AS score_sum,
    quantileTDigestStateIf(vst_ms, vst_samples > 0) AS vst_digest
FROM view_deltas
ARRAY JOIN [
    ('all', ''), ('property', property), ('cdn', cdn), ('country', country), ('asn', toString(asn)),
    ('device_type', device_type), ('player', player_name), ('title', title_id), ('stream_type', stream_type)
] AS dim
GROUP BY dimension, value, hour
