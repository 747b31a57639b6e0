"""Beacons as they leave the SDK: a batch of one view's events plus the view's header.

Events are plain dicts built by the tracker; the payload is serialised with orjson only when a
beacon is sent, so the per-event cost stays a dict literal and a list append. The shapes follow
the beacon JSON Schema bundled with the SDK (``qoe_sdk.contract``) exactly; the tests validate every
payload against it, and the server's tests validate the SDK's payloads with its own models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from qoe_sdk.contract import MAX_EVENTS_PER_BEACON, SCHEMA_VERSION

SDK_NAME = "qoe-python"
SDK_VERSION = "0.1.0"

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """The batching rules of REFERENCE §4, with Mux's caps."""

    flush_interval_ms: int = 10_000
    max_events_per_beacon: int = MAX_EVENTS_PER_BEACON
    max_queued_events: int = 3_600

    def __post_init__(self) -> None:
        if not 0 < self.max_events_per_beacon <= MAX_EVENTS_PER_BEACON:
            raise ValueError(f"max_events_per_beacon must be in 1..{MAX_EVENTS_PER_BEACON}")
        if self.max_queued_events < self.max_events_per_beacon:
            raise ValueError("max_queued_events must be at least max_events_per_beacon")
        if self.flush_interval_ms <= 0:
            raise ValueError("flush_interval_ms must be positive")


def view_header(
    view_id: str, viewer_id: str, context: dict[str, Any], sdk: tuple[str, str], property_key: str | None = None
) -> dict[str, Any]:
    """The part of every beacon of a view that does not change between batches."""
    header: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "view_id": view_id,
        "viewer_id": viewer_id,
        "sdk": {"name": sdk[0], "version": sdk[1]},
        "context": context,
    }
    if property_key is not None:
        header["property_key"] = property_key
    return header


@dataclass(slots=True)
class BeaconJob:
    """One beacon on its way: retried as is, or split in halves when the server says 413."""

    header: dict[str, Any]
    events: list[Event]
    batch_seq: int
    # Hands out the view's next batch_seq, so each half of a split beacon gets its own number.
    next_batch_seq: Callable[[], int]
    attempts: int = 0

    @property
    def view_id(self) -> str:
        return str(self.header["view_id"])

    def payload(self, sent_at: int) -> dict[str, Any]:
        return {**self.header, "batch_seq": self.batch_seq, "sent_at": sent_at, "events": self.events}

    def body(self, sent_at: int) -> bytes:
        return orjson.dumps(self.payload(sent_at))

    def split(self) -> tuple[BeaconJob, BeaconJob]:
        """Two beacons holding the first and second half of the events, with fresh batch_seqs."""
        if len(self.events) < 2:
            raise ValueError("a beacon with one event cannot be split")
        middle = len(self.events) // 2
        first = BeaconJob(self.header, self.events[:middle], self.next_batch_seq(), self.next_batch_seq)
        second = BeaconJob(self.header, self.events[middle:], self.next_batch_seq(), self.next_batch_seq)
        return first, second
