"""Scripted views for the sessionizer: events at chosen times, and beacon records as ingest writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from streams.sessionizer.events import Ev, to_ev

MINUTE_MS = 60_000
# A viewer clock on a whole minute (2026-09-21), so hand computations of minute slices stay simple.
T0 = 29_833_334 * MINUTE_MS


class Script:
    """A view's events: ``at(ms after t0, type, **fields)`` appends one with the next seq."""

    def __init__(self, t0: int = T0) -> None:
        self.t0 = t0
        self.events: list[dict[str, Any]] = []

    def at(self, offset_ms: int, type_: str, playhead_ms: int = 0, **fields: Any) -> Script:
        seq = len(self.events)
        self.events.append({"type": type_, "ts": self.t0 + offset_ms, "seq": seq, "playhead_ms": playhead_ms, **fields})
        return self

    def evs(self) -> list[Ev]:
        return [to_ev(e) for e in self.events]


def record(
    events: Sequence[dict[str, Any]],
    view_id: str,
    *,
    received_at: int | None = None,
    sent_at: int | None = None,
    batch_seq: int = 0,
    server: dict[str, Any] | None = None,
    **context: Any,
) -> bytes:
    """One beacons-topic record, shaped like ``ingest.beacons.record_value``.

    By default the beacon is sent at its newest event and received 40 ms later (no clock skew).
    """
    newest = max(e["ts"] for e in events)
    sent = sent_at if sent_at is not None else newest
    ctx = {"player_name": "test-player", "title_id": "t1", "cdn": "cdn-a", **context}
    beacon = {
        "version": 1,
        "view_id": view_id,
        "viewer_id": f"viewer-of-{view_id}",
        "batch_seq": batch_seq,
        "sent_at": sent,
        "sdk": {"name": "qoe-test", "version": "0.0.1"},
        "context": ctx,
        "events": list(events),
    }
    srv = {"received_at": received_at if received_at is not None else sent + 40, "country": "NO", "asn": 64500}
    srv.update(server or {})
    return orjson.dumps({"server": srv, "beacon": beacon})


def split(events: Sequence[dict[str, Any]], sizes: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Cuts a view's events into beacons of these sizes (the rest goes in a last beacon)."""
    out, start = [], 0
    for size in sizes:
        out.append(list(events[start : start + size]))
        start += size
    if start < len(events):
        out.append(list(events[start:]))
    return [batch for batch in out if batch]
