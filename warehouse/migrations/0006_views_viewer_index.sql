-- The recommender reads one viewer's views per request, but `views` is ordered by view_id: without a
-- skip index that read scans the whole viewer_id column. A bloom filter lets it skip the granules
-- that cannot hold the viewer. MATERIALIZE builds it for parts written before this migration (a
-- background mutation on a server; new parts get it as they are written).
ALTER TABLE views ADD INDEX IF NOT EXISTS viewer_idx viewer_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE views MATERIALIZE INDEX viewer_idx
