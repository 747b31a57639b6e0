-- The title catalogue (recommender.catalog): one row per title, loaded from MovieLens movies.csv
-- and links.csv at worker start-up or by `qoe recommender load-catalog`. A reload inserts every
-- title again with a newer version; readers take the latest with FINAL (the table is small).
CREATE TABLE IF NOT EXISTS catalog_titles (
    title_id String COMMENT 'the id players report as context.title_id, e.g. ml-1 for MovieLens movieId 1',
    title String COMMENT 'display name: release year removed, a trailing article moved to the front',
    source_title String COMMENT 'the name as the source wrote it, e.g. "American President, The (1995)"',
    year Nullable(UInt16),
    genres Array(LowCardinality(String)),
    duration_ms Nullable(UInt32) COMMENT 'runtime when the source knows it (MovieLens does not)',
    movielens_id Nullable(UInt32),
    imdb_id String COMMENT 'digits of the IMDb id (tt + these), empty when unknown',
    tmdb_id Nullable(UInt32),
    source LowCardinality(String),
    version UInt64 COMMENT 'load time in ms: the newest load of a title wins'
) ENGINE = ReplacingMergeTree(version)
ORDER BY title_id;

-- One row per catalogue load: a load whose checksum equals the latest one is skipped.
CREATE TABLE IF NOT EXISTS catalog_loads (
    loaded_at DateTime64(3, 'UTC'),
    source String,
    checksum String,
    titles UInt32
) ENGINE = MergeTree
ORDER BY loaded_at;
