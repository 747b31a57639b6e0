"""Aggregate per-view metrics into the headline QoE figures of REFERENCE §2.

Views still running when the simulation stopped and that had not started are censored (we do
not know whether they would have started), so they count neither as attempts nor as exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from qoe_sim.metrics import ViewMetrics


@dataclass(frozen=True)
class Summary:
    attempts: int
    plays: int
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    ebvs: float  # exits before video start ÷ attempts
    vsf: float  # technical fatal error before the first frame ÷ attempts
    vpf: float  # technical fatal error after the start ÷ plays
    business_failures: float  # refused for business reasons (geo-block, entitlement) ÷ attempts
    rebuffer_ratio: float  # Σ stall ÷ Σ watch
    stalls_per_view: float
    avg_bitrate_kbps: float | None
    switches_per_view: float


def summarize(views: Iterable[ViewMetrics]) -> Summary:
    counted = [v for v in views if v.started or v.end_reason != "shutdown"]
    started = [v for v in counted if v.started]
    startups = np.array([v.startup_ms for v in started if v.startup_ms is not None])
    attempts, plays = len(counted), len(started)
    watch = sum(v.watch_ms for v in counted)
    played = sum(v.played_ms for v in started)
    return Summary(
        attempts=attempts,
        plays=plays,
        startup_p50_ms=float(np.percentile(startups, 50)) if len(startups) else None,
        startup_p95_ms=float(np.percentile(startups, 95)) if len(startups) else None,
        ebvs=_share(sum(not v.started and v.fatal_error is None for v in counted), attempts),
        vsf=_share(
            sum(not v.started and v.fatal_error is not None and not v.business_error for v in counted), attempts
        ),
        vpf=_share(sum(_technical_failure(v) for v in started), plays),
        business_failures=_share(sum(v.business_error for v in counted), attempts),
        rebuffer_ratio=_share(sum(v.stall_ms for v in counted), watch),
        stalls_per_view=_share(sum(v.stall_count for v in started), plays),
        avg_bitrate_kbps=sum(v.bitrate_ms_sum for v in started) / played if played else None,
        switches_per_view=_share(sum(v.switches_up + v.switches_down for v in started), plays),
    )


def summarize_by(views: Iterable[ViewMetrics], key: Callable[[ViewMetrics], str]) -> dict[str, Summary]:
    groups: dict[str, list[ViewMetrics]] = {}
    for view in views:
        groups.setdefault(key(view), []).append(view)
    return {name: summarize(members) for name, members in sorted(groups.items())}


def _technical_failure(view: ViewMetrics) -> bool:
    return view.fatal_error is not None and not view.business_error


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0
