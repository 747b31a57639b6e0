"""What the simulator knows about each view: the ground truth the pipeline's metrics are checked against.

Definitions follow REFERENCE §2:

- ``startup_ms``: play intent to first frame; None when the view never started.
- ``stall_count`` / ``stall_ms``: waits for data after the view started, excluding startup and the
  buffering after a seek (kept apart in ``seek_wait_ms``).
- ``watch_ms``: play intent to view end, minus user pauses (so it includes startup and stalls).
- ``played_ms``: content time actually played.
- ``avg_bitrate_kbps``: time-weighted bitrate of what was played.
- ``switches_up`` / ``switches_down``: rendition changes while playing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qoe_sim.chooser import ViewerGroup


@dataclass(slots=True)
class ViewMetrics:
    view_id: str
    viewer_index: int
    title_id: str
    group: ViewerGroup
    cdn: str  # the pathway at view start
    started_at_ms: float  # simulation time of the play intent
    ended_at_ms: float | None = None
    end_reason: str = ""  # ended, user_exit, error, abandon_startup, abandon_stall, shutdown
    startup_ms: float | None = None
    stall_count: int = 0
    stall_ms: float = 0.0
    seek_count: int = 0
    seek_wait_ms: float = 0.0
    pause_count: int = 0
    paused_ms: float = 0.0
    played_ms: float = 0.0
    bitrate_ms_sum: float = 0.0  # Σ bitrate × played ms
    switches_up: int = 0
    switches_down: int = 0
    fatal_error: str | None = None
    business_error: bool = False
    requests: int = 0
    failed_requests: int = 0
    bits_downloaded: int = 0
    pathway_changes: int = 0
    cdns_used: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.startup_ms is not None

    @property
    def watch_ms(self) -> float:
        if self.ended_at_ms is None:
            return 0.0
        return self.ended_at_ms - self.started_at_ms - self.paused_ms

    @property
    def avg_bitrate_kbps(self) -> float | None:
        return self.bitrate_ms_sum / self.played_ms if self.played_ms > 0 else None

    @property
    def rebuffer_ratio(self) -> float:
        return self.stall_ms / self.watch_ms if self.watch_ms > 0 else 0.0

    def as_row(self) -> dict[str, Any]:
        """A flat record for CSV / JSON output."""
        row = asdict(self)
        row.pop("group")
        row.pop("bitrate_ms_sum")
        row["cdns_used"] = ",".join(self.cdns_used)
        row.update({f"group_{k}": v for k, v in asdict(self.group).items()})
        row.update(
            watch_ms=self.watch_ms,
            avg_bitrate_kbps=self.avg_bitrate_kbps,
            rebuffer_ratio=self.rebuffer_ratio,
            started=self.started,
        )
        return row
