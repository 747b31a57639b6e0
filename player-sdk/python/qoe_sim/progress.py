"""A live console view of a long simulation: audience states, SDK and sender counters, rates."""

from __future__ import annotations

import time
from types import TracebackType

from qoe_sdk import AsyncSender
from rich.console import Console
from rich.live import Live
from rich.table import Table

from qoe_sim.simulation import Snapshot


def _clock(ms: float) -> str:
    seconds = int(ms // 1000)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressDisplay:
    """Feed it snapshots (``update``); it redraws at most a few times a second."""

    def __init__(self, console: Console, *, sender: AsyncSender | None = None, title: str = "qoe simulate") -> None:
        self._console = console
        self._sender = sender
        self._title = title
        self._live = Live(console=console, refresh_per_second=4, transient=False)
        self._last: tuple[float, int, int] | None = None  # wall time, events, beacons at the last update
        self._rates = (0.0, 0.0)

    def attach(self, sender: AsyncSender) -> None:
        """Show this sender's counters too."""
        self._sender = sender

    def __enter__(self) -> ProgressDisplay:
        self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def update(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        events, beacons = snapshot.sdk.events_recorded, snapshot.sdk.beacons_built
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            self._rates = ((events - self._last[1]) / elapsed, (beacons - self._last[2]) / elapsed)
        self._last = (now, events, beacons)
        self._live.update(self.render(snapshot))

    def render(self, snapshot: Snapshot) -> Table:
        table = Table(title=self._title, show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        total = f" / {_clock(snapshot.duration_ms)}" if snapshot.duration_ms is not None else ""
        table.add_row("simulated time", _clock(snapshot.sim_ms) + total)
        table.add_row("viewers", "  ".join(f"{state} {count}" for state, count in snapshot.states.items()))
        table.add_row("views finished", f"{snapshot.views_done:,}")
        sdk = snapshot.sdk
        table.add_row("events", f"{sdk.events_recorded:,}  ({self._rates[0]:,.0f}/s)")
        table.add_row("beacons built", f"{sdk.beacons_built:,}  ({self._rates[1]:,.0f}/s)")
        if sdk.events_dropped_queue or sdk.internal_errors:
            table.add_row("dropped", f"queue cap {sdk.events_dropped_queue:,}  internal {sdk.internal_errors:,}")
        if self._sender is not None:
            s = self._sender.stats
            table.add_row(
                "sender",
                f"sent {s.beacons_sent:,}  backlog {self._sender.backlog:,}  retries {s.retries:,}  "
                f"refused {s.beacons_rejected:,}  lost {s.beacons_dropped:,}  network errors {s.network_errors:,}"
                + (f"  last: {s.last_error}" if s.last_error else ""),
            )
            if s.stopped:
                table.add_row("sender", "[red]the server answered 410: reporting stopped[/red]")
        if snapshot.lag_p99_ms is not None:
            table.add_row("scheduling lag p99", f"{snapshot.lag_p99_ms:,.0f} ms")
        return table
