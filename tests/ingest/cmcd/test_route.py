"""``POST /v1/cmcd`` on a fake sink: beacon records per session, refusals, outages and metrics."""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import create_app
from ingest.cmcd.state import derived_viewer_id
from ingest.producer import MemoryRecordSink
from schemas import BeaconRecord, DeadLetter
from tests.factories.cmcd import HLSJS_SESSION, HLSJS_SID, session_line

# The route refuses times more than a day from its clock: reports here are a minute old.
T0 = int(time.time() * 1000) - 60_000
HOUR_MS = 3_600_000
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
CMCD = {"content-type": "application/cmcd"}


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture
def client(sink: MemoryRecordSink) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(_env_file=None, max_body_bytes=50_000), sink)) as test_client:
        yield test_client


def _recent(body: str) -> str:
    """The recorded hls.js session, moved to T0 (each ``ts`` shifted by the same amount)."""
    shift = T0 - min(int(ts) for ts in re.findall(r"\bts=(\d+)", "".join(HLSJS_SESSION)))
    return re.sub(r"\bts=(\d+)", lambda m: f"ts={int(m[1]) + shift}", body)


def _beacons(sink: MemoryRecordSink) -> list[tuple[bytes | None, BeaconRecord]]:
    return [(key, BeaconRecord.model_validate_json(value)) for topic, key, value in sink.records if topic == "beacons"]


def test_a_report_is_stored_as_beacon_records_keyed_by_session(client: TestClient, sink: MemoryRecordSink) -> None:
    body = _recent("".join(HLSJS_SESSION[:12]))
    response = client.post("/v1/cmcd", content=body, headers={**CMCD, "user-agent": CHROME})
    assert response.status_code == 202
    [(key, record)] = _beacons(sink)
    assert key == HLSJS_SID.encode()
    beacon = record.beacon
    assert (beacon.view_id, beacon.viewer_id, beacon.sdk.name, beacon.sdk.version) == (
        HLSJS_SID,
        derived_viewer_id(HLSJS_SID),
        "cmcd",
        "2",
    )
    assert (beacon.context.title_id, beacon.context.stream_type) == ("bbb", "vod")
    assert [e.type for e in beacon.events][:2] == ["playback_request", "rendition_change"]
    assert response.json() == {"accepted_records": 12, "accepted_events": len(beacon.events)}
    assert record.server.browser == "Chrome"


def test_sessions_of_one_report_go_to_their_own_records(client: TestClient, sink: MemoryRecordSink) -> None:
    lines = [session_line(0, "ps", T0, sid=sid, sta="s", cid="t1", qoe_viewer="viewer-9") for sid in ("a", "b")]
    assert client.post("/v1/cmcd", content="\n".join(lines), headers=CMCD).status_code == 202
    records = _beacons(sink)
    assert [key for key, _ in records] == [b"a", b"b"]
    assert {r.beacon.viewer_id for _, r in records} == {"viewer-9"}


def test_long_reports_are_split_into_beacons_of_at_most_300_events(client: TestClient, sink: MemoryRecordSink) -> None:
    lines = [session_line(sn, "rr", T0 + sn, rc=200, ttfb=1, ttlb=2, url=f"https://c/s{sn}.m4s") for sn in range(301)]
    assert client.post("/v1/cmcd", content="\n".join(lines), headers=CMCD).json()["accepted_events"] == 301
    assert [len(r.beacon.events) for _, r in _beacons(sink)] == [300, 1]
    assert [r.beacon.batch_seq for _, r in _beacons(sink)] == [0, 300]


def test_records_that_mean_nothing_yet_are_accepted_without_a_beacon(
    client: TestClient, sink: MemoryRecordSink
) -> None:
    body = f"{session_line(0, 't', T0)}\n{session_line(1, 'ps', T0, sta='d')}\n"
    response = client.post("/v1/cmcd", content=body, headers=CMCD)
    assert (response.status_code, response.json()) == (202, {"accepted_records": 2, "accepted_events": 0})
    assert sink.records == []


def test_a_bad_line_refuses_the_report_naming_line_and_key(client: TestClient, sink: MemoryRecordSink) -> None:
    body = f'{session_line(0, "ps", T0, sta="s")}\ne=ps,sta=p,sid="a",sn=1,ts=nope,v=2\n'
    response = client.post("/v1/cmcd", content=body, headers=CMCD)
    assert response.status_code == 400
    [detail] = response.json()["detail"]
    assert detail["field"] == "line 2: ts"
    [(topic, _, value)] = sink.records
    letter = DeadLetter.model_validate_json(value)
    assert (topic, letter.source, letter.status) == ("beacons-dlq", "/v1/cmcd", 400)
    assert letter.errors[0].field == "line 2: ts"
    assert "ts=nope" in letter.body


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"", CMCD, 400),
        (b"  \n", CMCD, 400),
        (session_line(0, "ps", T0, sta="s").encode(), {"content-type": "application/json"}, 415),
        (b"x" * 50_001, CMCD, 413),
        (b'e=ps,sid="\xff"', CMCD, 400),
    ],
)
def test_unreadable_bodies(client: TestClient, content: bytes, headers: dict[str, str], status: int) -> None:
    assert client.post("/v1/cmcd", content=content, headers=headers).status_code == status


def test_gzip_and_text_plain_are_accepted(client: TestClient, sink: MemoryRecordSink) -> None:
    zipped = gzip.compress(session_line(0, "ps", T0, sid="a", sta="s").encode())
    zipped_answer = client.post("/v1/cmcd", content=zipped, headers={**CMCD, "content-encoding": "gzip"})
    line = session_line(0, "ps", T0, sid="b", sta="s")
    beacon = client.post("/v1/cmcd", content=line, headers={"content-type": "text/plain;charset=UTF-8"})
    assert (zipped_answer.status_code, beacon.status_code) == (202, 202)
    assert len(_beacons(sink)) == 2


def test_switched_off_answers_410_so_players_stop(sink: MemoryRecordSink) -> None:
    app = create_app(Settings(_env_file=None), sink, cmcd_enabled=False)
    with TestClient(app) as off:
        response = off.post("/v1/cmcd", content=session_line(0, "ps", T0, sta="s"), headers=CMCD)
    assert response.status_code == 410
    assert sink.records == []


def test_outage_answers_503_and_the_retry_is_stored(client: TestClient, sink: MemoryRecordSink) -> None:
    sink.available = False
    report = session_line(0, "ps", T0, sta="s")
    response = client.post("/v1/cmcd", content=report, headers=CMCD)
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    sink.available = True
    assert client.post("/v1/cmcd", content=report, headers=CMCD).json()["accepted_events"] == 1
    assert client.post("/v1/cmcd", content=report, headers=CMCD).json()["accepted_events"] == 0, "sent once"
    assert [e.type for _, r in _beacons(sink) for e in r.beacon.events] == ["playback_request"]


def test_metrics_count_cmcd_outcomes(client: TestClient) -> None:
    client.post("/v1/cmcd", content=session_line(0, "ps", T0, sta="s"), headers=CMCD)
    client.post("/v1/cmcd", content=b"nonsense", headers=CMCD)
    text = client.get("/metrics").text
    assert 'qoe_ingest_beacons_total{endpoint="cmcd",outcome="accepted"} 1.0' in text
    assert 'qoe_ingest_beacons_total{endpoint="cmcd",outcome="refused"} 1.0' in text
    assert 'qoe_ingest_events_total{endpoint="cmcd"} 1.0' in text


def test_times_far_from_the_servers_clock_refuse_the_report_naming_line_and_key(
    client: TestClient, sink: MemoryRecordSink
) -> None:
    # From the clock now, not T0: collection may import this module minutes before the test runs.
    old = int(time.time() * 1000) - 25 * HOUR_MS
    body = "\n".join([session_line(0, "ps", old, sta="s"), session_line(1, "rr", old, rc=200, ttfb=1, ttlb=2)])
    response = client.post("/v1/cmcd", content=body, headers=CMCD)
    assert response.status_code == 400
    details = response.json()["detail"]
    assert [d["field"] for d in details] == ["line 1: ts", "line 2: ts"]
    assert "25.0 h before the server's clock" in details[0]["message"]
    assert [topic for topic, _, _ in sink.records] == ["beacons-dlq"]


def test_a_report_spanning_more_than_a_day_is_refused(client: TestClient, sink: MemoryRecordSink) -> None:
    body = "\n".join([session_line(0, "ps", T0 - 25 * HOUR_MS, sta="s"), session_line(1, "ps", T0, sta="p")])
    response = client.post("/v1/cmcd", content=body, headers=CMCD)
    assert response.status_code == 400
    assert "span at most 24.0 h" in response.json()["reason"]
    assert [topic for topic, _, _ in sink.records] == ["beacons-dlq"]
