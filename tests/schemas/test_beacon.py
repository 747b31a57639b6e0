from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas import Beacon, EventType, FieldError
from schemas.beacon import SAFE_INT_MAX, UINT32_MAX
from schemas.jsonschema import COMMITTED_PATHS, SCHEMA_PATH, SDK_SCHEMA_PATH, beacon_json_schema, main, render
from tests.factories.beacons import T0_MS, beacon, event, playing_view_events


@pytest.mark.parametrize("path", COMMITTED_PATHS, ids=["schemas", "python-sdk"])
def test_committed_json_schema_is_current(path: Path) -> None:
    """Both copies: the one the JS SDK's tests read, and the one the Python SDK ships."""
    assert path.read_bytes() == render(), "run `python -m schemas.jsonschema` and commit the result"


def test_the_generator_writes_every_committed_copy_by_default_or_only_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SCHEMA_PATH.name == SDK_SCHEMA_PATH.name and SDK_SCHEMA_PATH.parent.name == "qoe_sdk"
    targets = (tmp_path / "a.json", tmp_path / "b.json")
    monkeypatch.setattr("schemas.jsonschema.COMMITTED_PATHS", targets)
    main([])
    assert [t.read_bytes() for t in targets] == [render(), render()]
    main(["--out", str(tmp_path / "only.json")])
    assert (tmp_path / "only.json").read_bytes() == render()


def test_json_schema_lists_exactly_the_closed_event_types() -> None:
    schema = beacon_json_schema()
    tags = {d["properties"]["type"]["const"] for d in schema["$defs"].values() if "type" in d.get("properties", {})}
    assert tags == {t.value for t in EventType}


def test_valid_beacon_round_trips() -> None:
    parsed = Beacon.model_validate(beacon(playing_view_events(10)))
    assert len(parsed.events) == 10
    assert parsed.events[1].type is EventType.RENDITION_CHANGE


def test_unknown_version_names_the_versions_we_accept() -> None:
    with pytest.raises(ValidationError, match=r"unsupported beacon version 2; this server accepts \[1\]"):
        Beacon.model_validate({**beacon(), "version": 2})


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["events"].append(event("warp", 1, 1)), "events.1"),
        (lambda b: b.update(view_id="has space"), "view_id"),
        (lambda b: b["events"][0].update(ts="yesterday"), "events.0.playback_request.ts"),
        (lambda b: b.update(events=[]), "events"),
        (lambda b: b["context"].update(country="norway"), "context.country"),
        (lambda b: b.update(surprise=1), "surprise"),
    ],
)
def test_invalid_beacons_name_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    body = beacon()
    mutate(body)
    with pytest.raises(ValidationError) as info:
        Beacon.model_validate(body)
    locs = {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}
    assert field in locs


# --- bounds of the warehouse columns, and times within a day ------------------------------------

DAY_MS = 86_400_000


def _errors(body: dict[str, Any]) -> list[tuple[str, str, FieldError | None]]:
    """(the field's path as ingest names it, the message, the cross-field error) of each refusal."""
    with pytest.raises(ValidationError) as info:
        Beacon.model_validate(body)
    found = []
    for error in info.value.errors(include_url=False):
        cause = error.get("ctx", {}).get("error")
        loc = error["loc"] + (cause.loc if isinstance(cause, FieldError) else ())
        found.append((".".join(str(p) for p in loc), error["msg"], cause if isinstance(cause, FieldError) else None))
    return found


@pytest.mark.parametrize(
    ("make", "field", "limit"),
    [
        (lambda v: event("heartbeat", T0_MS, v), "events.0.heartbeat.seq", UINT32_MAX),
        (lambda v: event("heartbeat", T0_MS, 0, playhead_ms=v), "events.0.heartbeat.playhead_ms", SAFE_INT_MAX),
        (lambda v: event("heartbeat", T0_MS, 0, dropped_frames=v), "events.0.heartbeat.dropped_frames", UINT32_MAX),
        (lambda v: event("heartbeat", T0_MS, 0, total_frames=v), "events.0.heartbeat.total_frames", UINT32_MAX),
        (lambda v: event("heartbeat", T0_MS, 0, buffer_ms=v), "events.0.heartbeat.buffer_ms", SAFE_INT_MAX),
        (lambda v: event("seek_start", T0_MS, 0, target_ms=v), "events.0.seek_start.target_ms", SAFE_INT_MAX),
        (lambda v: event("stall_start", T0_MS, 0, buffer_ms=v), "events.0.stall_start.buffer_ms", SAFE_INT_MAX),
        (lambda v: event("player_resize", T0_MS, 0, width=v, height=1), "events.0.player_resize.width", UINT32_MAX),
        (
            lambda v: event("rendition_change", T0_MS, 0, bitrate_kbps=1, height=v),
            "events.0.rendition_change.height",
            UINT32_MAX,
        ),
        (
            lambda v: event("request_completed", T0_MS, 0, bytes=v, duration_ms=1),
            "events.0.request_completed.bytes",
            SAFE_INT_MAX,
        ),
        (
            lambda v: event("request_completed", T0_MS, 0, bytes=1, duration_ms=1, ttfb_ms=v),
            "events.0.request_completed.ttfb_ms",
            SAFE_INT_MAX,
        ),
    ],
)
def test_integers_are_bounded_by_their_column(make: Callable[[int], dict[str, Any]], field: str, limit: int) -> None:
    assert Beacon.model_validate(beacon([make(limit)])).events[0]
    for beyond in (limit + 1, 2**64):
        assert [f for f, _, _ in _errors(beacon([make(beyond)]))] == [field]


def test_batch_seq_is_a_uint32_like_its_column() -> None:
    assert Beacon.model_validate(beacon(batch_seq=UINT32_MAX)).batch_seq == UINT32_MAX
    assert [f for f, _, _ in _errors(beacon(batch_seq=UINT32_MAX + 1))] == ["batch_seq"]


def test_the_json_schema_carries_the_bounds() -> None:
    defs = beacon_json_schema()["$defs"]
    assert defs["Heartbeat"]["properties"]["seq"]["maximum"] == UINT32_MAX
    assert defs["Heartbeat"]["properties"]["playhead_ms"]["maximum"] == SAFE_INT_MAX
    assert beacon_json_schema()["properties"]["batch_seq"]["maximum"] == UINT32_MAX


def test_floats_refuse_infinity_and_nan() -> None:
    for value in ("Infinity", "NaN"):
        body = orjson.dumps(beacon([event("rendition_change", T0_MS, 0, bitrate_kbps=1, framerate=0)]))
        with pytest.raises(ValidationError, match="framerate"):
            Beacon.model_validate_json(body.replace(b'"framerate":0', b'"framerate":' + value.encode()))


def test_events_spanning_more_than_a_day_are_refused_naming_the_latest() -> None:
    events = [event("heartbeat", T0_MS + DAY_MS, 0), event("heartbeat", T0_MS, 1), event("heartbeat", T0_MS + 5, 2)]
    assert Beacon.model_validate(beacon(events))
    events.append(event("heartbeat", T0_MS + DAY_MS + 1, 3))
    [(field, message, cause)] = _errors(beacon(events))
    assert field == "events.3.ts" and cause is not None
    assert "is 24.0 h after events[1].ts" in message and "span at most 24.0 h" in message


def test_events_more_than_a_day_from_sent_at_are_refused_naming_the_farthest() -> None:
    events = [event("heartbeat", T0_MS, 0), event("heartbeat", T0_MS + 1000, 1)]
    assert Beacon.model_validate({**beacon(events), "sent_at": T0_MS + DAY_MS})
    [(_, message, cause)] = _errors({**beacon(events), "sent_at": T0_MS + DAY_MS + 1})
    assert cause is not None and cause.loc == ("events", 0, "ts")
    assert "is 24.0 h before sent_at" in message
    [(_, message, cause)] = _errors({**beacon(events), "sent_at": T0_MS - DAY_MS})
    assert cause is not None and cause.loc == ("events", 1, "ts") and "after sent_at" in message
