"""Unit tests of the beacon endpoint against an in-memory record sink (the fake of Kafka)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation.settings import Settings
from ingest.app import BeaconFastPath, create_app
from ingest.cors import parse_origins
from ingest.producer import MemoryRecordSink
from schemas import MAX_EVENTS_PER_BEACON, BeaconRecord, DeadLetter
from schemas.beacon import SAFE_INT_MAX, UINT32_MAX
from tests.factories.beacons import beacon, event, playing_view_events

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
LOOPBACK = ("127.0.0.1", 50000)  # the peer of every request here: trusted by the default settings
HOUR_MS = 3_600_000


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture(params=["fastapi", "fast-path"])
def client(request: pytest.FixtureRequest, sink: MemoryRecordSink) -> Iterator[TestClient]:
    """Every test runs against the FastAPI app and against the fast path `qoe ingest` serves."""
    app = create_app(Settings(_env_file=None, max_body_bytes=20_000), sink)
    with TestClient(BeaconFastPath(app) if request.param == "fast-path" else app, client=LOOPBACK) as test_client:
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


# --- times the server's clock refuses, integers beyond their columns ------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refused_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [detail["field"] for detail in response.json()["detail"]]


def test_events_more_than_a_day_from_the_receive_time_get_422_naming_each(
    client: TestClient, sink: MemoryRecordSink
) -> None:
    now = _now_ms()
    late = beacon([event("heartbeat", now - 25 * HOUR_MS, 0), event("heartbeat", now - 25 * HOUR_MS + 1, 1)])
    early = beacon([event("heartbeat", now + 25 * HOUR_MS, 0)])
    assert _refused_fields(client.post("/v1/beacons", json=late)) == ["events[0].ts", "events[1].ts"]
    response = client.post("/v1/beacons", json=early)
    assert _refused_fields(response) == ["events[0].ts"]
    assert "25.0 h after the server's clock" in response.json()["detail"][0]["message"]
    letters = [DeadLetter.model_validate_json(v) for v in _records(sink, "beacons-dlq")]
    assert [(d.status, d.errors[0].field) for d in letters] == [(422, "events[0].ts"), (422, "events[0].ts")]
    assert _records(sink, "beacons") == []


def test_sent_at_more_than_a_day_from_the_receive_time_gets_422(client: TestClient) -> None:
    now = _now_ms()
    body = {**beacon([event("heartbeat", now - 25 * HOUR_MS, 0)]), "sent_at": now - 25 * HOUR_MS}
    assert _refused_fields(client.post("/v1/beacons", json=body)) == ["sent_at", "events[0].ts"]


def test_a_skewed_device_clock_within_a_day_is_accepted(client: TestClient) -> None:
    now = _now_ms()
    body = {**beacon([event("heartbeat", now - 23 * HOUR_MS, 0)]), "sent_at": now - 23 * HOUR_MS + 5}
    assert client.post("/v1/beacons", json=body).status_code == 202


def test_events_spanning_more_than_a_day_get_422_naming_the_event(client: TestClient, sink: MemoryRecordSink) -> None:
    now = _now_ms()
    body = beacon([event("heartbeat", now - 12 * HOUR_MS - 1, 0), event("heartbeat", now + 12 * HOUR_MS, 1)])
    response = client.post("/v1/beacons", json=body)
    assert _refused_fields(response) == ["events[1].ts"]
    assert "span at most 24.0 h" in response.json()["reason"]
    assert DeadLetter.model_validate_json(_records(sink, "beacons-dlq")[0]).errors[0].field == "events[1].ts"


def test_events_older_than_the_raw_retention_get_422_saying_the_retention(sink: MemoryRecordSink) -> None:
    app = create_app(Settings(_env_file=None, raw_retention_days=0), sink)
    now = _now_ms()
    # With a retention under a day (here none), an hour-old event would vanish under the TTL after a 202.
    body = {**beacon([event("heartbeat", now - HOUR_MS, 0)]), "sent_at": now}
    with TestClient(app, client=LOOPBACK) as client:
        response = client.post("/v1/beacons", json=body)
    assert _refused_fields(response) == ["events[0].ts"]
    assert "beyond the raw-event retention of 0 days" in response.json()["detail"][0]["message"]
    assert _records(sink, "beacons") == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"seq": UINT32_MAX + 1}, "events[0].seq"),
        ({"seq": 2**64}, "events[0].seq"),
        ({"playhead_ms": SAFE_INT_MAX + 1}, "events[0].playhead_ms"),
        ({"dropped_frames": 2**70}, "events[0].dropped_frames"),
    ],
)
def test_integers_beyond_their_column_get_422_naming_the_field(
    client: TestClient, sink: MemoryRecordSink, fields: dict[str, int], field: str
) -> None:
    body = beacon([{**event("heartbeat", _now_ms(), 0), **fields}])
    assert _refused_fields(client.post("/v1/beacons", json=body)) == [field]
    assert _records(sink, "beacons") == []


# Values at the ends of each range mostly, sometimes beyond: most beacons are valid, each limit is crossed.
def _edges(values: list[Any], beyond: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values * 6 + beyond)


def _int_edges(limit: int) -> st.SearchStrategy[int]:
    return _edges([0, 1, limit], [limit + 1, 2**64, -1])


_FLOATS = _edges([5e-324, 0.5, 1_000_000.0], [1_000_000.5, 1e308])
_LABELS = st.text(st.characters(codec="utf-8"), max_size=130)  # unicode, and beyond 128


@st.composite
def extreme_beacons(draw: st.DrawFn) -> dict[str, Any]:
    now = _now_ms()
    day = 24 * HOUR_MS
    ts = now + draw(_edges([0, -day + 60_000, day - 60_000], [-day - 60_000, day + 60_000, -100 * 365 * day]))
    ts = draw(_edges([ts], [0, 4_102_444_800_000, 4_102_444_800_001]))  # and the ends of the schema's range
    count = draw(_edges([1, 2, MAX_EVENTS_PER_BEACON], [MAX_EVENTS_PER_BEACON + 1]))
    gap = draw(_edges([0, 1000], [100 * 365 * day]))  # between the first event and the rest
    uint32, safe = _int_edges(UINT32_MAX), _int_edges(SAFE_INT_MAX)
    extra = draw(
        st.sampled_from(
            [
                {"type": "heartbeat", "dropped_frames": draw(uint32), "total_frames": draw(uint32)},
                {"type": "rendition_change", "bitrate_kbps": draw(_FLOATS), "width": draw(uint32)},
                {"type": "request_completed", "bytes": draw(safe), "duration_ms": draw(safe)},
                {"type": "error", "code": draw(_LABELS), "fatal": False},
            ]
        )
    )
    first = {"seq": draw(uint32), "playhead_ms": draw(safe)}
    events = [{**extra, "ts": ts, **first}]
    events += [{**extra, "ts": ts + gap, "seq": i, "playhead_ms": 1000 * i} for i in range(1, count)]
    context = {"title": draw(_LABELS), "region": draw(_LABELS), "page_url": "https://v.example/w?" + draw(_LABELS)}
    body = beacon(events, batch_seq=draw(uint32), **context)
    return {**body, "sent_at": draw(st.sampled_from([None, ts]))}


def test_beacons_at_the_schemas_extremes_are_stored_intact_or_refused_with_422(sink: MemoryRecordSink) -> None:
    """Never a 500; what is accepted survives the orjson round trip every reader downstream makes."""
    # Without rate limits: one client posts every case, and most are refused.
    app = create_app(Settings(_env_file=None, rate_limit_beacons="", rate_limit_refused_beacons=""), sink)
    with TestClient(app, client=LOOPBACK, raise_server_exceptions=False) as client:

        @settings(max_examples=150, deadline=None, derandomize=True)
        @given(extreme_beacons())
        def check(body: dict[str, Any]) -> None:
            sink.records.clear()
            content = json.dumps(body).encode()  # orjson writes no integer beyond 64 bits: these test them
            response = client.post("/v1/beacons", content=content, headers={"content-type": "application/json"})
            assert response.status_code in (202, 422), response.text
            if response.status_code == 422:
                assert all(detail["field"] for detail in response.json()["detail"])
                return
            [value] = _records(sink, "beacons")
            assert orjson.dumps(orjson.loads(value)) and BeaconRecord.model_validate_json(value)

        check()


# --- geo headers: only from trusted proxies ----------------------------------------------------------

GEO = {"x-country": "se", "x-region": "Stockholm", "x-asn": "3301"}


def _geo_of(sink: MemoryRecordSink, peer: str, **values: Any) -> tuple[str, str, int | None]:
    app = create_app(Settings(_env_file=None, **values), sink)
    with TestClient(app, client=(peer, 40000)) as client:
        assert client.post("/v1/beacons", json=beacon(), headers=GEO).status_code == 202
    server = BeaconRecord.model_validate_json(_records(sink, "beacons")[-1]).server
    return server.country, server.region, server.asn


@pytest.mark.parametrize(
    ("peer", "values"),
    [
        ("127.0.0.1", {}),
        ("::1", {}),
        ("10.20.30.40", {"trusted_proxies": "192.168.0.0/16, 10.0.0.0/8"}),
        ("::ffff:10.20.30.40", {"trusted_proxies": "10.0.0.0/8"}),  # IPv4 on a dual-stack socket
        ("2001:db8::7", {"trusted_proxies": "2001:db8::/32"}),
    ],
)
def test_geo_headers_from_a_trusted_proxy_are_honoured(
    sink: MemoryRecordSink, peer: str, values: dict[str, str]
) -> None:
    assert _geo_of(sink, peer, **values) == ("SE", "Stockholm", 3301)


@pytest.mark.parametrize(
    ("peer", "values"),
    [
        ("203.0.113.9", {}),
        ("10.20.30.40", {"trusted_proxies": "10.0.0.0/16"}),
        ("testclient", {}),  # not an address at all
        ("127.0.0.1", {"trusted_proxies": ""}),  # nothing trusted
    ],
)
def test_geo_headers_from_anyone_else_are_ignored(sink: MemoryRecordSink, peer: str, values: dict[str, str]) -> None:
    assert _geo_of(sink, peer, **values) == ("", "", None)


def test_a_wrong_trusted_proxy_network_stops_the_app_with_the_setting_named(sink: MemoryRecordSink) -> None:
    with pytest.raises(ValueError, match=r"QOE_TRUSTED_PROXIES: '10.0.0.1/8' is not a network"):
        create_app(Settings(_env_file=None, trusted_proxies="10.0.0.1/8"), sink)
