-- A view is a viewer's history (what they watched, when, where, on what): it is kept no longer
-- than the raw events it was folded from (raw_retention_days). It leaves with its first beacon's
-- events, when no late event can change it any more (the sessionizer ignores events that arrive
-- later than the retention after a view's first beacon). view_deltas already has this TTL; the
-- rollups hold no view or viewer id and are kept.
-- The retention is rendered when this migration runs: a later change of the setting does not
-- change this TTL, as for view_deltas (only beacon_events' TTL is kept equal to the setting, by
-- warehouse.migrations.apply_retention). Parts written before are purged by the background
-- mutation that MODIFY TTL starts.
ALTER TABLE views MODIFY TTL toDateTime(first_seen_at) + INTERVAL {raw_retention_days} DAY
