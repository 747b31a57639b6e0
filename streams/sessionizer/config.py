"""The sessionizer's settings and names, without importing Faust (foundation.topics needs the names)."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.settings import Settings


@dataclass(frozen=True)
class SessionizerConfig:
    """Settings of the sessionizer (``QOE_SESSIONIZER_*``, see docs/metrics.md)."""

    inactivity_timeout_s: float = 1800.0  # a view with no beacon for this long is closed
    ended_grace_s: float = 60.0  # ... or this long after `ended` or a fatal error without view_end
    flush_interval_s: float = 0.5  # a change is written at most this long after it was folded
    flush_views: int = 2000  # ... or as soon as this many views changed
    evict_after_s: float = 300.0  # a closed view leaves memory this long after closing
    late_limit_days: float = 30.0  # later than this after its first beacon, an event is ignored

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionizerConfig:
        return cls(
            inactivity_timeout_s=settings.sessionizer_inactivity_timeout_s,
            ended_grace_s=settings.sessionizer_ended_grace_s,
            flush_interval_s=settings.sessionizer_flush_interval_s,
            flush_views=settings.sessionizer_flush_views,
            evict_after_s=settings.sessionizer_evict_after_s,
            # Past the raw-event retention a view's events are gone, so it cannot be folded again.
            late_limit_days=float(settings.raw_retention_days),
        )
