"""The columns of a view-minute fact: one vector per (view, minute, CDN).

Every column is additive, so a correction is a delta row and rollups are plain sums (see
docs/metrics.md). The same names are the columns of ``view_deltas`` and of the rollup tables.
"""

from __future__ import annotations

from typing import Final

# Time-sliced: what happened inside the minute, written by the fold as intervals close.
TIME_SLICED: Final = (
    "watch_ms",  # playing + stalled + waiting after a seek; pauses and startup excluded
    "playing_ms",  # playhead advancing
    "stall_ms",  # stalls after start, outside seeks
    "seek_ms",  # waiting after a seek
    "stall_count",  # stalls that began in the minute
    "bitrate_ms",  # Σ indicated bitrate (kbps) × playing ms, where the bitrate is known
    "bitrate_weight_ms",  # playing ms with a known bitrate
    "upscale_ms",  # Σ upscale (%) × playing ms, where player and video sizes are known
    "upscale_weight_ms",  # playing ms with known sizes
    "upswitches",
    "downswitches",
    "dropped_frames",  # from heartbeat cumulative counters
    "total_frames",
    "events",  # distinct events folded
)

# View-level: a view's outcome, counted once, in the minute of its anchor (see docs/metrics.md).
VIEW_LEVEL: Final = (
    "attempts",  # at play intent
    "plays",  # at first frame
    "vst_count",  # at first frame, when both intent and first frame are known
    "vst_sum_ms",
    "ebvs",  # at play intent, once the view closed before its first frame (≥ 1 s)
    "short_exits",  # at play intent: closed before the first frame in under 1 s
    "vsf",  # at play intent: technical fatal error before the first frame
    "vsf_business",
    "vpf",  # at first frame: technical fatal error after start
    "vpf_business",
    "ended_views",  # at the view's end
    "ended_stall_count",
    "ended_stall_ms",
    "ended_watch_ms",
    "scored_views",  # at the view's end: closed views with a QoE score
    "score_sum",
)

COLUMNS: Final = TIME_SLICED + VIEW_LEVEL
WIDTH: Final = len(COLUMNS)
INDEX: Final = {name: i for i, name in enumerate(COLUMNS)}

# Fixed indices for the hot path (the fold), checked against COLUMNS at import.
WATCH, PLAYING, STALL, SEEK, STALLS, BR, BR_W, UPSCALE, UPSCALE_W, UP, DOWN, DROPPED, FRAMES, EVENTS = range(14)
assert TIME_SLICED[EVENTS] == "events" and len(TIME_SLICED) == 14

# Concurrency is sampled every 5 s: 12 samples a minute per cell (docs/metrics.md). One a second
# would be exact to the second, but made a day's breakdown by title read five times the state.
SAMPLE_MS: Final = 5_000
SAMPLES_PER_MINUTE: Final = 60_000 // SAMPLE_MS

# A key of a fact vector: (minute since the epoch, CDN).
Key = tuple[int, str]


def zeros() -> list[float]:
    return [0.0] * WIDTH
