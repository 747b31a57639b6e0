-- Per-hour rollup by one dimension at a time, like qoe_minute but without the concurrency samples:
-- long windows read their whole hours here and only their ragged ends from qoe_minute (a day's
-- breakdown by title reads 24 rows per title instead of 1440). Peak concurrency still comes from
-- qoe_minute, since a peak cannot be summed.
CREATE TABLE IF NOT EXISTS qoe_hour (
    dimension LowCardinality(String),
    value String,
    hour DateTime('UTC'),
    watch_ms SimpleAggregateFunction(sum, Float64),
    playing_ms SimpleAggregateFunction(sum, Float64),
    stall_ms SimpleAggregateFunction(sum, Float64),
    seek_ms SimpleAggregateFunction(sum, Float64),
    stall_count SimpleAggregateFunction(sum, Float64),
    bitrate_ms SimpleAggregateFunction(sum, Float64),
    bitrate_weight_ms SimpleAggregateFunction(sum, Float64),
    upscale_ms SimpleAggregateFunction(sum, Float64),
    upscale_weight_ms SimpleAggregateFunction(sum, Float64),
    upswitches SimpleAggregateFunction(sum, Float64),
    downswitches SimpleAggregateFunction(sum, Float64),
    dropped_frames SimpleAggregateFunction(sum, Float64),
    total_frames SimpleAggregateFunction(sum, Float64),
    events SimpleAggregateFunction(sum, Float64),
    attempts SimpleAggregateFunction(sum, Float64),
    plays SimpleAggregateFunction(sum, Float64),
    vst_count SimpleAggregateFunction(sum, Float64),
    vst_sum_ms SimpleAggregateFunction(sum, Float64),
    ebvs SimpleAggregateFunction(sum, Float64),
    short_exits SimpleAggregateFunction(sum, Float64),
    vsf SimpleAggregateFunction(sum, Float64),
    vsf_business SimpleAggregateFunction(sum, Float64),
    vpf SimpleAggregateFunction(sum, Float64),
    vpf_business SimpleAggregateFunction(sum, Float64),
    ended_views SimpleAggregateFunction(sum, Float64),
    ended_stall_count SimpleAggregateFunction(sum, Float64),
    ended_stall_ms SimpleAggregateFunction(sum, Float64),
    ended_watch_ms SimpleAggregateFunction(sum, Float64),
    scored_views SimpleAggregateFunction(sum, Float64),
    score_sum SimpleAggregateFunction(sum, Float64),
    vst_digest AggregateFunction(quantileTDigest, Float64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (dimension, value, hour);

-- The deltas written before this migration; run with the workers stopped, as every migration.
INSERT INTO qoe_hour
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
    ('all', ''), ('cdn', cdn), ('country', country), ('asn', toString(asn)), ('device_type', device_type),
    ('player', player_name), ('title', title_id), ('stream_type', stream_type)
] AS dim
WHERE (SELECT count() FROM qoe_hour) = 0  -- once, even if this migration is run again
GROUP BY dimension, value, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS qoe_hour_mv TO qoe_hour AS
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
    ('all', ''), ('cdn', cdn), ('country', country), ('asn', toString(asn)), ('device_type', device_type),
    ('player', player_name), ('title', title_id), ('stream_type', stream_type)
] AS dim
GROUP BY dimension, value, hour;
