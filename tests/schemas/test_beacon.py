from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import Beacon, EventType
from schemas.jsonschema import COMMITTED_PATHS, SCHEMA_PATH, SDK_SCHEMA_PATH, beacon_json_schema, main, render
from tests.factories.beacons import beacon, event, playing_view_events


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
