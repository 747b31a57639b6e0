"""Ingest's property check: which property a beacon or CMCD report joins, and what it refuses."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from foundation.properties import DEFAULT_PROPERTY, Property, PropertyKeys, new_property_key
from foundation.settings import Settings
from ingest.app import create_app
from ingest.producer import MemoryRecordSink
from ingest.properties import PropertyCheck
from schemas import BeaconRecord, DeadLetter
from tests.factories.beacons import beacon, playing_view_events
from tests.factories.cmcd import session_line

BRAND = Property("brand-a", "Brand A", new_property_key(), ("https://www.brand-a.example",))
APP = Property("tv-app", "TV app", new_property_key())
TOPIC_DEAD = Settings(_env_file=None).topic_dead_letter


class _Keys:
    def __init__(self, *properties: Property, failing: bool = False) -> None:
        self.properties, self.failing = list(properties), failing

    async def __call__(self) -> Iterable[Property]:
        if self.failing:
            raise ConnectionError("warehouse API away")
        return self.properties


def _gateway(required: bool, loader: _Keys | None = None) -> tuple[TestClient, MemoryRecordSink]:
    sink = MemoryRecordSink()
    app = create_app(Settings(_env_file=None, property_keys_required=required), sink)
    keys = PropertyKeys(loader or _Keys(BRAND, APP))
    app.state.properties = PropertyCheck(keys, required)
    return TestClient(app, client=("203.0.113.7", 40000)), sink


def _post(client: TestClient, key: str | None, origin: str | None = None) -> Any:
    body = beacon(playing_view_events(3)) | ({"property_key": key} if key else {})
    return client.post("/v1/beacons", json=body, headers={"origin": origin} if origin else None)


def _stored(sink: MemoryRecordSink) -> list[BeaconRecord]:
    return [BeaconRecord.model_validate_json(value) for topic, _, value in sink.records if topic != TOPIC_DEAD]


def _dead(sink: MemoryRecordSink) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(value) for topic, _, value in sink.records if topic == TOPIC_DEAD]


def test_a_beacon_joins_the_property_of_its_key() -> None:
    client, sink = _gateway(required=True)
    with client:
        assert _post(client, BRAND.key, "https://www.brand-a.example").status_code == 202
        assert _post(client, APP.key).status_code == 202
    assert [record.server.property for record in _stored(sink)] == ["brand-a", "tv-app"]


def test_a_required_key_that_is_missing_is_401_and_kept_as_a_dead_letter() -> None:
    client, sink = _gateway(required=True)
    with client:
        answer = _post(client, None)
    assert answer.status_code == 401 and "property_key" in answer.json()["detail"]
    assert _stored(sink) == [] and [letter.status for letter in _dead(sink)] == [401]


def test_without_required_keys_a_keyless_beacon_joins_the_default_property() -> None:
    client, sink = _gateway(required=False)
    with client:
        assert _post(client, None).status_code == 202
    assert [record.server.property for record in _stored(sink)] == [DEFAULT_PROPERTY]


@pytest.mark.parametrize("required", [True, False])
def test_an_unknown_key_is_403_even_where_keys_are_optional(required: bool) -> None:
    client, sink = _gateway(required)
    with client:
        answer = _post(client, new_property_key())
    assert answer.status_code == 403 and "unknown or revoked" in answer.json()["detail"]
    assert _stored(sink) == []


def test_a_key_from_an_origin_its_property_does_not_allow_is_403() -> None:
    client, sink = _gateway(required=True)
    with client:
        answer = _post(client, BRAND.key, "https://evil.example")
    assert answer.status_code == 403 and "https://evil.example" in answer.json()["detail"]
    assert _stored(sink) == []


@pytest.mark.parametrize("required", [True, False])
def test_a_malformed_key_is_403(required: bool) -> None:
    client, _ = _gateway(required)
    with client:
        answer = _post(client, "not-a-key")
    assert answer.status_code == 403 and "qoe_pk_" in answer.json()["detail"]


def test_a_stranger_learns_nothing_of_the_schema_but_a_keyed_player_does() -> None:
    client, _ = _gateway(required=True)
    with client:
        stranger = client.post("/v1/beacons", json={"not_a_field": 1})
        player = client.post("/v1/beacons", json={"property_key": APP.key, "not_a_field": 1})
    assert stranger.status_code == 401
    assert player.status_code == 422 and "reason" in player.json()


def test_keys_that_cannot_be_loaded_yet_are_503_with_retry_after() -> None:
    client, sink = _gateway(required=True, loader=_Keys(failing=True))
    with client:
        answer = _post(client, BRAND.key)
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert sink.records == []  # nothing refused for good: the player retries


def test_a_cmcd_report_carries_its_key_in_the_query() -> None:
    client, sink = _gateway(required=True)
    report = session_line(0, "ps", int(time.time() * 1000) - 60_000, sta="s", cid="t1") + "\n"
    with client:
        keyless = client.post("/v1/cmcd", content=report, headers={"content-type": "application/cmcd"})
        keyed = client.post(
            f"/v1/cmcd?property_key={APP.key}", content=report, headers={"content-type": "application/cmcd"}
        )
    assert keyless.status_code == 401
    assert keyed.status_code == 202, keyed.text
    assert {record.server.property for record in _stored(sink)} == {"tv-app"}
    assert orjson.loads(sink.records[0][2])["status"] == 401
