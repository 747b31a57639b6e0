"""Every QoE metric, defined once: the API, its OpenAPI schema, the dashboards and docs/metrics.md use these.

A metric is a function of column sums over a window (``layout.COLUMNS`` of the rollups), plus
the two the rollups hold as states: the VST digest and the per-second concurrency samples.
Ratios are None when their denominator is zero, never 0 and never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Sums = Mapping[str, float]

MINUTE_MS = 60_000.0


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    return scale * numerator / denominator if denominator > 0 else None


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str
    compute: Callable[[Sums], float | None]
    integer: bool = False


def _sum(column: str) -> Callable[[Sums], float | None]:
    return lambda s: s[column]


def _pct_of(numerator: str, denominator: str) -> Callable[[Sums], float | None]:
    return lambda s: _ratio(s[numerator], s[denominator], 100.0)


def _per_watch_minute(*columns: str) -> Callable[[Sums], float | None]:
    return lambda s: _ratio(sum(s[c] for c in columns), s["watch_ms"] / MINUTE_MS)


METRICS: tuple[Metric, ...] = (
    Metric("attempts", "views", "Views with play intent (a click or autoplay) in the window.", _sum("attempts"), True),
    Metric("plays", "views", "Views whose first frame was shown in the window.", _sum("plays"), True),
    Metric(
        "concurrent_viewers",
        "views",
        "Peak number of simultaneously active started views (first frame shown, not yet ended; pauses "
        "included), sampled every second of the window.",
        _sum("concurrent"),
        True,
    ),
    Metric(
        "vst_p50_ms",
        "ms",
        "Median video startup time (play intent → first frame) of the views that started in the window; "
        "views that never started are excluded.",
        _sum("vst_p50"),
    ),
    Metric("vst_p95_ms", "ms", "95th percentile of the video startup time, same views as vst_p50_ms.", _sum("vst_p95")),
    Metric(
        "ebvs_pct",
        "%",
        "Exits before video start: attempts that ended before the first frame without a fatal error, "
        "excluding exits under 1 s, ÷ attempts × 100.",
        _pct_of("ebvs", "attempts"),
    ),
    Metric(
        "vsf_pct",
        "%",
        "Video startup failures: attempts with a technical fatal error before the first frame ÷ attempts × 100.",
        _pct_of("vsf", "attempts"),
    ),
    Metric(
        "vpf_pct",
        "%",
        "Video playback failures: plays with a technical fatal error after the first frame ÷ plays × 100.",
        _pct_of("vpf", "plays"),
    ),
    Metric(
        "rebuffer_ratio",
        "ratio",
        "Stall time ÷ watch time in the window (0–1). Watch time includes stalls and seek waits and "
        "excludes pauses and startup; stalls exclude startup and seeks.",
        lambda s: _ratio(s["stall_ms"], s["watch_ms"]),
    ),
    Metric("rebuffer_per_min", "1/min", "Stalls per minute of watch time.", _per_watch_minute("stall_count")),
    Metric(
        "avg_bitrate_kbps",
        "kbps",
        "Time-weighted indicated bitrate of what played: Σ(bitrate × playing time) ÷ Σ playing time.",
        lambda s: _ratio(s["bitrate_ms"], s["bitrate_weight_ms"]),
    ),
    Metric(
        "switches_per_min",
        "1/min",
        "Rendition switches (up and down) per minute of watch time.",
        _per_watch_minute("upswitches", "downswitches"),
    ),
    Metric(
        "qoe_score",
        "0–100",
        "Mean QoE score (docs/qoe-score.md) of the views that ended in the window; views ended by a "
        "business exception are not scored.",
        lambda s: _ratio(s["score_sum"], s["scored_views"]),
    ),
    # --- extras ---------------------------------------------------------------------------
    Metric(
        "vsf_business_pct",
        "%",
        "Attempts refused by a business exception before the first frame (geo-block, entitlement) ÷ attempts × 100.",
        _pct_of("vsf_business", "attempts"),
    ),
    Metric(
        "vpf_business_pct",
        "%",
        "Plays stopped by a business exception after the first frame ÷ plays × 100.",
        _pct_of("vpf_business", "plays"),
    ),
    Metric(
        "vst_mean_ms",
        "ms",
        "Mean video startup time, same views as vst_p50_ms.",
        lambda s: _ratio(s["vst_sum_ms"], s["vst_count"]),
    ),
    Metric("watch_minutes", "min", "Watch time in the window.", lambda s: s["watch_ms"] / MINUTE_MS),
    Metric("upswitches_per_min", "1/min", "Up-switches per minute of watch time.", _per_watch_minute("upswitches")),
    Metric(
        "downswitches_per_min", "1/min", "Down-switches per minute of watch time.", _per_watch_minute("downswitches")
    ),
    Metric(
        "upscale_pct",
        "%",
        "Time-weighted upscale of what played: (player size − video size) ÷ video size on the fitting axis.",
        lambda s: _ratio(s["upscale_ms"], s["upscale_weight_ms"]),
    ),
    Metric(
        "dropped_frames_pct",
        "%",
        "Dropped frames ÷ frames decoded × 100, from the players' cumulative counters.",
        _pct_of("dropped_frames", "total_frames"),
    ),
    Metric("ended_views", "views", "Views that ended in the window.", _sum("ended_views"), True),
    Metric(
        "stalls_per_view",
        "stalls",
        "Stalls per view, over the views that ended in the window.",
        lambda s: _ratio(s["ended_stall_count"], s["ended_views"]),
    ),
    Metric(
        "stall_seconds_per_view",
        "s",
        "Stall seconds per view, over the views that ended in the window.",
        lambda s: _ratio(s["ended_stall_ms"] / 1000.0, s["ended_views"]),
    ),
    Metric(
        "short_exits",
        "views",
        "Attempts that ended before the first frame in under 1 s: neither EBVS nor failures.",
        _sum("short_exits"),
        True,
    ),
    Metric("events", "events", "Player events folded into views in the window.", _sum("events"), True),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
# What GET /v1/stats/overview must answer, in this order (the contract).
HEADLINE: tuple[str, ...] = (
    "attempts",
    "plays",
    "concurrent_viewers",
    "vst_p50_ms",
    "vst_p95_ms",
    "ebvs_pct",
    "vsf_pct",
    "vpf_pct",
    "rebuffer_ratio",
    "rebuffer_per_min",
    "avg_bitrate_kbps",
    "switches_per_min",
    "qoe_score",
)


def compute(sums: Sums) -> dict[str, float | None]:
    """Every metric from one group's sums (which also carry concurrent, vst_p50 and vst_p95)."""
    values: dict[str, float | None] = {}
    for metric in METRICS:
        value = metric.compute(sums)
        if value is not None and value != value:  # NaN: an empty digest
            value = None
        values[metric.name] = round(value) if metric.integer and value is not None else value
    return values
