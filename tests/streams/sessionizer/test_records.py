"""The sessionizer reads records as ingest writes them, and refuses, whole, any record ingest would not write.

The worker does not trust ingest: anyone who can write to the topic writes records. A refused
record is dead-lettered by the agent; one that got through would fail later, on every retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from streams.sessionizer.core import Sessionizer
from streams.sessionizer.events import RecordError, read_record
from streams.sessionizer.store import ViewStore
from tests.factories.views import Script, record

GOOD = Script().at(0, "playback_request").at(50, "rendition_change", bitrate_kbps=2000, width=1280, height=720)
GOOD.at(800, "playback_start").at(1800, "heartbeat", dropped_frames=1, total_frames=30).at(2800, "view_end")


def tampered(change: Callable[[Any], None]) -> bytes:
    """A good record after ``change(record)`` edits it in place."""
    value = orjson.loads(record(GOOD.events, "v1"))
    change(value)
    return json.dumps(value, separators=(",", ":")).encode()  # the standard library encodes any integer


def event(value: dict[str, Any], index: int) -> dict[str, Any]:
    events: list[dict[str, Any]] = value["beacon"]["events"]
    return events[index]


BAD: dict[str, Callable[[Any], None]] = {
    "seq beyond 64 bits": lambda r: event(r, 4).update(seq=2**64),
    "seq beyond 32 bits": lambda r: event(r, 4).update(seq=2**32),
    "negative ts": lambda r: event(r, 0).update(ts=-1),
    "ts after 2100": lambda r: event(r, 0).update(ts=4_102_444_800_001),
    "received after 2100": lambda r: r["server"].update(received_at=4_102_444_800_001),
    "ts as text": lambda r: event(r, 0).update(ts="noon"),
    "frames as text": lambda r: event(r, 3).update(total_frames="many"),
    "frames beyond 2^53": lambda r: event(r, 3).update(dropped_frames=2**53),
    "infinite bitrate": lambda r: event(r, 1).update(bitrate_kbps="inf"),
    "width as a list": lambda r: event(r, 1).update(width=[1]),
    "huge sent_at": lambda r: r["beacon"].update(sent_at=10**30),
    "view id of 1000 chars": lambda r: r["beacon"].update(view_id="v" * 1000),
    "view id with spaces": lambda r: r["beacon"].update(view_id="a b"),
    "view id a number": lambda r: r["beacon"].update(view_id=7),
    "asn beyond 32 bits": lambda r: r["server"].update(asn=2**32),
    "title an object": lambda r: r["beacon"]["context"].update(title={"a": 1}),
    "context a list": lambda r: r["beacon"].update(context=["x"]),
    "sdk a string": lambda r: r["beacon"].update(sdk="qoe"),
    "an event that is no object": lambda r: r["beacon"]["events"].append(3),
}


def test_a_good_record_reads() -> None:
    beacon = read_record(record(GOOD.events, "v1"))
    assert [e.seq for e in beacon.events] == [0, 1, 2, 3, 4]
    assert beacon.events[1].extra == (2000.0, 1280, 720, None, None, None)
    assert beacon.events[3].extra == (1, 30)


@pytest.mark.parametrize("change", BAD.values(), ids=BAD.keys())
def test_a_record_ingest_would_not_write_is_refused_whole(change: Callable[[Any], None]) -> None:
    with pytest.raises(RecordError, match="not a beacon record"):
        read_record(tampered(change))


def test_the_sessionizer_says_why_it_refused_a_record(warehouse: Client) -> None:
    sessionizer = Sessionizer(ViewStore(warehouse))
    reason = sessionizer.fold_record(tampered(BAD["seq beyond 64 bits"]), 0)
    assert reason is not None and str(2**64) in reason
    assert sessionizer.fold_record(record(GOOD.events, "v2"), 0) is None
    assert set(sessionizer.sessions) == {"v2"} and sessionizer.stats.bad_records == 1
