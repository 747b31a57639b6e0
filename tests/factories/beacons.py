"""Factories that build valid beacons as plain JSON-ready dicts (what a player sends)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

# A recent viewer clock, fixed for the run (the start of the previous hour): ingest refuses events
# more than a day from its own clock, so beacons the tests post must be recent.
T0_MS = (int(time.time()) // 3600 - 1) * 3_600_000

_counter = itertools.count()


def event(type_: str, ts: int, seq: int, playhead_ms: int = 0, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "seq": seq, "playhead_ms": playhead_ms, **fields}


def beacon(
    events: list[dict[str, Any]] | None = None,
    *,
    view_id: str | None = None,
    viewer_id: str = "viewer-1",
    batch_seq: int = 0,
    **context: Any,
) -> dict[str, Any]:
    ctx = {"player_name": "test-player", "title_id": "t1", "cdn": "cdn-a", "country": "NO", **context}
    return {
        "version": 1,
        "view_id": view_id or f"view-{next(_counter)}-{uuid.uuid4().hex[:8]}",
        "viewer_id": viewer_id,
        "batch_seq": batch_seq,
        "sdk": {"name": "qoe-test", "version": "0.0.1"},
        "context": ctx,
        "events": events if events is not None else [event("playback_request", T0_MS, 0)],
    }


def playing_view_events(n: int, t0: int = T0_MS, first_seq: int = 0) -> list[dict[str, Any]]:
    """A view that starts, picks a rendition and then sends heartbeats: n events in all."""
    head = [
        event("playback_request", t0, first_seq),
        event("rendition_change", t0 + 50, first_seq + 1, bitrate_kbps=2500, width=1280, height=720, framerate=30),
        event("playback_start", t0 + 800, first_seq + 2),
    ]
    beats = (
        event("heartbeat", t0 + 800 + 1000 * i, first_seq + 3 + i, playhead_ms=1000 * i, dropped_frames=0)
        for i in itertools.count()
    )
    return (head + list(itertools.islice(beats, max(0, n - 3))))[:n]


def beacons_for_views(views: int, events_per_view: int) -> Iterator[dict[str, Any]]:
    for _ in range(views):
        yield beacon(playing_view_events(events_per_view))


def moved_to_now(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Beacons of a virtual run (stamped from a fixed epoch) moved in time so the newest event is now.

    Ingest refuses events more than a day from its own clock, so a virtual run posted to a real
    gateway has to be brought forward; everything but the times stays as the run made it.
    """
    shift = int(time.time() * 1000) - max(e["ts"] for payload in payloads for e in payload["events"])

    def moved(payload: dict[str, Any]) -> dict[str, Any]:
        body = {**payload, "events": [{**e, "ts": e["ts"] + shift} for e in payload["events"]]}
        if payload.get("sent_at") is not None:
            body["sent_at"] = payload["sent_at"] + shift
        return body

    return [moved(payload) for payload in payloads]
