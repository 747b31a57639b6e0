"""Where views hand their beacons: the HTTP sender, or memory for tests and virtual-time runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from qoe_sdk.beacon import BeaconJob


class BeaconSink(Protocol):
    """Takes beacons without blocking the player; decides when views may flush."""

    @property
    def stopped(self) -> bool:
        """The server told us to stop reporting (HTTP 410): views drop their events."""
        ...

    def accepting(self, now_ms: int) -> bool:
        """False while the server asked us to come back later: views keep their events queued."""
        ...

    def submit(self, job: BeaconJob) -> None:
        """Queue a beacon for delivery. Never blocks, never raises."""
        ...


class MemorySink:
    """Keeps (or only counts) every beacon as the JSON-ready dict the server would receive.

    Used in virtual-time simulation and tests: ``sent_at`` comes from the same clock as the
    events, so a seeded run produces byte-identical payloads.
    """

    def __init__(self, clock: Callable[[], int], *, keep: bool = True) -> None:
        self._clock = clock
        self._keep = keep
        self.payloads: list[dict[str, Any]] = []
        self.beacons = 0
        self.events = 0

    @property
    def stopped(self) -> bool:
        return False

    def accepting(self, now_ms: int) -> bool:
        return True

    def submit(self, job: BeaconJob) -> None:
        self.beacons += 1
        self.events += len(job.events)
        if self._keep:
            self.payloads.append(job.payload(self._clock()))
