"""The sessionizer's settings and names, without importing Faust (foundation.topics needs the names)."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.settings import Settings, default_of


@dataclass(frozen=True)
class SessionizerConfig:
    """Settings of the sessionizer (``QOE_SESSIONIZER_*``, see docs/metrics.md); the defaults are the settings'."""

    inactivity_timeout_s: float = default_of("sessionizer_inactivity_timeout_s")  # no beacon this long: closed
    ended_grace_s: float = default_of("sessionizer_ended_grace_s")  # ... or this long after `ended` / a fatal error
    flush_interval_s: float = default_of("sessionizer_flush_interval_s")  # a change is written at most this late
    flush_views: int = default_of("sessionizer_flush_views")  # ... or as soon as this many views changed
    evict_after_s: float = default_of("sessionizer_evict_after_s")  # a closed view leaves memory this long after
    # Later than this after its first beacon, an event is ignored: past the raw-event retention a
    # view's events are gone, so it cannot be folded again.
    late_limit_days: float = float(default_of("raw_retention_days"))

    @property
    def max_gap_ms(self) -> int:
        """The longest silence between two events the fold counts: longer, the view was inactive."""
        return int(self.inactivity_timeout_s * 1000)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionizerConfig:
        return cls(
            inactivity_timeout_s=settings.sessionizer_inactivity_timeout_s,
            ended_grace_s=settings.sessionizer_ended_grace_s,
            flush_interval_s=settings.sessionizer_flush_interval_s,
            flush_views=settings.sessionizer_flush_views,
            evict_after_s=settings.sessionizer_evict_after_s,
            late_limit_days=float(settings.raw_retention_days),
        )
