"""Unit tests of the beacon endpoint against an in-memory record sink (the fake of Kafka)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import BeaconFastPath, create_app
from ingest.cors import parse_origins
from ingest.producer import MemoryRecordSink
from schemas import BeaconRecord, DeadLetter
from tests.factories.beacons import beacon, event, playing_view_events

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture(params=["fastapi", "fast-path"])
def client(request: pytest.FixtureRequest, sink: MemoryRecordSink) -> Iterator[TestClient]:
    """Every test runs against the FastAPI app and against the fast path `qoe ingest` serves."""
    app = create_app(Settings(_env_file=None, max_body_bytes=20_000), sink)
    with TestClient(BeaconFastPath(app) if request.param == "fast-path" else app) as test_client:
        yield test_client


def _records(sink: MemoryRecordSink, topic: str) -> list[bytes]:
    return [value for t, _, value in sink.records if t == topic]


def test_accepts_json_and_writes_one_record_keyed_by_view(client: TestClient, sink: MemoryRecordSink) -> None:
    body = beacon(playing_view_events(12))
    response = client.post("/v1/beacons", json=body, headers={"user-agent": CHROME, "x-country": "de"})
    assert response.status_code == 202
    assert response.json() == {"accepted_events": 12}
    [(topic, key, value)] = sink.records
    assert (topic, key) == ("beacons", body["view_id"].encode())
    record = BeaconRecord.model_validate_json(value)
    assert len(record.beacon.events) == 12
    assert (record.server.browser, record.server.os, record.server.device_type) == ("Chrome", "Windows", "desktop")
    assert record.server.country == "DE"
    assert record.server.received_at > 1_700_000_000_000


def test_accepts_text_plain_from_send_beacon(client: TestClient, sink: MemoryRecordSink) -> None:
    response = client.post(
        "/v1/beacons", content=orjson.dumps(beacon()), headers={"content-type": "text/plain;charset=UTF-8"}
    )
    assert response.status_code == 202
    assert len(_records(sink, "beacons")) == 1


def test_accepts_gzip_body(client: TestClient, sink: MemoryRecordSink) -> None:
    body = gzip.compress(orjson.dumps(beacon(playing_view_events(5))))
    response = client.post(
        "/v1/beacons", content=body, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert response.status_code == 202
    assert BeaconRecord.model_validate_json(sink.records[0][2]).beacon.events[4].seq == 4


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        (b'{"version": 1, "view_id": ', 400, "not valid JSON"),
        (b"", 400, "empty body"),
        (b"   ", 400, "empty body"),
        (b"[1, 2]", 422, "a JSON object"),
        (gzip.compress(b"x")[:-4], 400, "gzip"),
    ],
)
def test_malformed_bodies_get_400_with_reason_and_a_dead_letter(
    client: TestClient, sink: MemoryRecordSink, content: bytes, status: int, reason: str
) -> None:
    response = client.post("/v1/beacons", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert reason in response.json()["detail"]
    [letter] = _records(sink, "beacons-dlq")
    assert DeadLetter.model_validate_json(letter).status == status
    assert _records(sink, "beacons") == []


def test_wrong_types_get_422_naming_the_field(client: TestClient, sink: MemoryRecordSink) -> None:
    body = beacon([event("playback_request", 1, 0), event("rendition_change", 2, 1, bitrate_kbps="fast")])
    response = client.post("/v1/beacons", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events[1].bitrate_kbps"
    letter = DeadLetter.model_validate_json(_records(sink, "beacons-dlq")[0])
    assert letter.errors[0].field == "events[1].bitrate_kbps"
    assert '"fast"' in letter.body


def test_unknown_event_type_is_named(client: TestClient) -> None:
    response = client.post("/v1/beacons", json=beacon([event("teleport", 1, 0)]))
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["field"] == "events[0]"
    assert "unknown event type 'teleport'" in detail["message"]
    assert "playback_start" in detail["message"]


def test_unknown_version_is_refused_with_the_supported_list(client: TestClient) -> None:
    response = client.post("/v1/beacons", json={**beacon(), "version": 7})
    assert response.status_code == 422
    assert response.json()["detail"][0] == {
        "field": "version",
        "message": "unsupported beacon version 7; this server accepts [1]",
    }


def test_oversized_body_gets_413(client: TestClient, sink: MemoryRecordSink) -> None:
    body = beacon(playing_view_events(300))
    assert len(orjson.dumps(body)) > 20_000
    assert client.post("/v1/beacons", json=body).status_code == 413
    assert _records(sink, "beacons") == []


def test_gzip_bomb_gets_413(client: TestClient) -> None:
    bomb = gzip.compress(b'{"a":"' + b"x" * 5_000_000 + b'"}')
    assert len(bomb) < 20_000
    response = client.post("/v1/beacons", content=bomb, headers={"content-encoding": "gzip"})
    assert response.status_code == 413


def test_unsupported_content_type_gets_415(client: TestClient) -> None:
    response = client.post("/v1/beacons", content=b"<beacon/>", headers={"content-type": "application/xml"})
    assert response.status_code == 415


def test_outage_gets_503_with_retry_after_and_no_2xx(client: TestClient, sink: MemoryRecordSink) -> None:
    sink.available = False
    response = client.post("/v1/beacons", json=beacon())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert client.get("/healthz").status_code == 503
    sink.available = True
    assert client.post("/v1/beacons", json=beacon()).status_code == 202
    assert client.get("/healthz").status_code == 200


def test_metrics_count_outcomes(client: TestClient) -> None:
    client.post("/v1/beacons", json=beacon(playing_view_events(4)))
    client.post("/v1/beacons", content=b"{", headers={"content-type": "application/json"})
    text = client.get("/metrics").text
    assert 'qoe_ingest_beacons_total{endpoint="beacons",outcome="accepted"} 1.0' in text
    assert 'qoe_ingest_beacons_total{endpoint="beacons",outcome="refused"} 1.0' in text
    assert 'qoe_ingest_events_total{endpoint="beacons"} 4.0' in text


def test_openapi_documents_the_beacon_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/beacons"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Beacon"}
    assert "RenditionChange" in spec["components"]["schemas"]


def test_fast_path_keeps_the_cors_policy_and_leaves_other_requests_to_fastapi(sink: MemoryRecordSink) -> None:
    app = create_app(Settings(_env_file=None), sink, cors_origins=parse_origins("https://video.example"))
    with TestClient(BeaconFastPath(app)) as client:
        allowed = client.post("/v1/beacons", json=beacon(), headers={"origin": "https://video.example"})
        other = client.post("/v1/beacons", json=beacon(), headers={"origin": "https://evil.example"})
        preflight = client.options(
            "/v1/beacons",
            headers={"origin": "https://video.example", "access-control-request-method": "POST"},
        )
        wrong_method = client.get("/v1/beacons")
        health = client.get("/healthz")
    assert allowed.status_code == 202
    assert allowed.headers["access-control-allow-origin"] == "https://video.example"
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert wrong_method.status_code == 405
    assert health.status_code == 200
    assert len(_records(sink, "beacons")) == 2
