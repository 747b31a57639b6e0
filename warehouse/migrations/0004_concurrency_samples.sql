-- Concurrency is sampled every 5 s, not every second: 12 samples per (view, minute, CDN) delta.
-- The column and the rollup states keep their types; only the length of the arrays changed.
ALTER TABLE view_deltas COMMENT COLUMN active_samples 'views active at each 5 s instant of the minute (concurrency), as a delta';
