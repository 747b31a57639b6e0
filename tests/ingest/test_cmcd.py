"""CMCD v2 event mode: the parser, the mapping onto beacon events, and ``POST /v1/cmcd`` on a fake sink.

The mapping is checked on a real hls.js 1.7.4 session recorded from Chromium
(``tests.factories.cmcd.HLSJS_SESSION``); the browser test runs hls.js live against the stack.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import create_app
from ingest.cmcd import (
    SEQ_STRIDE,
    PlayStates,
    derived_viewer_id,
    map_report,
    parse_record,
    parse_report,
)
from ingest.cors import parse_origins
from ingest.producer import MemoryRecordSink
from schemas import BeaconRecord, DeadLetter
from tests.factories.cmcd import HLSJS_SESSION, HLSJS_SID, cmcd_line, session_line

T0 = 1_790_000_000_000
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
CMCD = {"content-type": "application/cmcd"}


def hlsjs_lines() -> list[str]:
    return [line for body in HLSJS_SESSION for line in body.splitlines()]


class FrozenClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def deliver(lines: list[str], states: PlayStates | None = None) -> dict[int, dict[str, Any]]:
    """Maps one line per report, like hls.js posts them; checks that no seq is ever sent twice."""
    states = PlayStates(clock=FrozenClock()) if states is None else states
    final: dict[int, dict[str, Any]] = {}
    for line in lines:
        records, errors = parse_report(line)
        assert errors == []
        for session in map_report(records, states):
            for event in session.events:
                assert event["seq"] not in final, f"seq {event['seq']} sent twice"
                final[event["seq"]] = event
    return final


def types(events: dict[int, dict[str, Any]], skip: tuple[str, ...] = ("request_completed",)) -> list[str]:
    return [events[seq]["type"] for seq in sorted(events) if events[seq]["type"] not in skip]


# --- parsing ---------------------------------------------------------------------------


def test_every_line_hls_js_sent_parses() -> None:
    records, errors = parse_report("".join(HLSJS_SESSION))
    assert errors == []
    assert len(records) == 48 and {r.sid for r in records} == {HLSJS_SID}
    assert sorted(r.sn for r in records) == list(range(48))
    response = next(r for r in records if r.sn == 4)
    assert (response.event, response.state, response.response_code) == ("rr", "s", 200)
    assert (response.ttfb_ms, response.ttlb_ms, response.bitrate_kbps, response.stream_type) == (20, 23, 662.0, "v")
    assert response.url is not None and response.url.endswith("/240p/seg_0000.m4s")
    assert next(r for r in records if r.sn == 35).object_type == "v"


def test_structured_field_forms() -> None:
    line = 'br=(3000;a 2500;v),bl=2100,tb=(4000),e=t,sid="a",sn=1,ts=5,v=2,su,bs=?0,pr=1.5,sta=p,ec=("x" "y")'
    record = parse_record(line)
    assert record.bitrate_kbps == 2500.0, "the video item of an inner list"
    assert record.buffer_ms == 2100, "a v1-style scalar is accepted too"
    assert (record.top_bitrate_kbps, record.state, record.error_codes) == (4000.0, "p", ("x", "y"))
    spaced = parse_record(cmcd_line(e="ps", sta="a", sid="b", sn=2, ts=6, v=2, br=[800]))
    assert (spaced.state, spaced.bitrate_kbps) == ("a", 800.0)


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('e=ps,sta=p,sid="a",ts=1,v=2', "sn", "sequence number"),
        ('e=ps,sta=p,sid="a",sn=1,v=2', "ts", "timestamp"),
        ("e=ps,sta=p,sn=1,ts=1,v=2", "sid", "session id"),
        ('sta=p,sid="a",sn=1,ts=1,v=2', "e", "event type"),
        ('e=ps,sta=p,sid="a",sn=1,ts=1', "v", "v=2"),
        ('e=ps,sta=p,sid="a",sn=1,ts=1,v=1', "v", "v=2"),
        ('e=ps,sta=z,sid="a",sn=1,ts=1,v=2', "sta", "unknown player state 'z'"),
        ('e=ps,sid="a",sn=1,ts=1,v=2', "sta", "needs the state"),
        ('e=bc,sid="a",sn=1,ts=1,v=2', "br", "needs the bitrate"),
        ("e=ps,sta=p,sid=a,sn=1,ts=1,v=2", "sid", "quoted string"),
        ('e=ps,sta=p,sid="a b",sn=1,ts=1,v=2', "sid", "A-Z a-z 0-9"),
        ('e=ps,sta=p,sid="a",sn=-1,ts=1,v=2', "sn", "between 0 and"),
        ('e=ps,sta=p,sid="a",sn=1,ts=1.5,v=2', "ts", "integer"),
        ('e=bc,br=(0),sid="a",sn=1,ts=1,v=2', "br", "above 0"),
        ('e=ps,sta=p,sid="a,sn=1,ts=1,v=2', "sid", "not a CMCD dictionary"),
        ('e=ps,sta=p,sid="a",sn=1,ts=1,v=2,BR=1', "BR", "not a CMCD dictionary"),
    ],
)
def test_a_bad_line_is_refused_naming_its_key(line: str, key: str, message: str) -> None:
    [error] = parse_report(line)[1]
    assert (error.line, error.key) == (1, key)
    assert message in error.message


def test_errors_carry_their_line_numbers() -> None:
    good = session_line(0, "ps", T0, sta="s")
    records, errors = parse_report(f'{good}\n\n{good}\ne=ps,sid="a",sn=x,ts=1,v=2\n{good}\nnot cmcd\n')
    assert len(records) == 3
    assert [(e.line, e.key) for e in errors] == [(4, "sn"), (6, "not cmcd")]


# --- mapping ---------------------------------------------------------------------------


def test_the_recorded_hls_js_session_becomes_the_view_it_played() -> None:
    events = deliver(hlsjs_lines())  # in the order the requests arrived
    assert types(events) == [
        "playback_request",
        "rendition_change",
        "rendition_change",
        "playback_start",
        "heartbeat",
        "pause",
        "resume",
        "heartbeat",
        "seek_start",
        "stall_start",  # hls.js reports waiting inside the seek; the sessionizer leaves it out
        "stall_end",
        "seek_end",
        "heartbeat",
        "heartbeat",
        "rendition_change",
        "heartbeat",
        "stall_start",
        "heartbeat",
        "stall_end",
        "heartbeat",
        "heartbeat",
        "ended",
        "view_end",
    ]
    first = {e["type"]: e for e in sorted(events.values(), key=lambda e: -e["seq"])}
    assert first["playback_start"]["ts"] - first["playback_request"]["ts"] == 382  # p.ts - s.ts
    changes = [events[seq] for seq in sorted(events) if events[seq]["type"] == "rendition_change"]
    assert [e["bitrate_kbps"] for e in changes] == [662.0, 3801.0, 662.0]
    completed = [e for e in events.values() if e["type"] == "request_completed"]
    assert len(completed) == 24 and {e["kind"] for e in completed} == {"init", "segment"}
    assert all(e["bytes"] == 0 and e["ttfb_ms"] <= e["duration_ms"] for e in completed), "hls.js sends no d"
    stall = [e for e in events.values() if e["type"] == "stall_start"][-1]
    assert stall["buffer_ms"] == 5900


@pytest.mark.parametrize("seed", range(8))
def test_reports_in_any_order_give_the_same_events(seed: int) -> None:
    in_order = sorted(hlsjs_lines(), key=lambda line: parse_record(line).sn)
    shuffled = in_order.copy()
    random.Random(seed).shuffle(shuffled)
    assert deliver(shuffled) == deliver(in_order)


def test_a_change_waits_for_the_reports_before_it_then_for_at_most_max_wait() -> None:
    clock = FrozenClock()
    states = PlayStates(max_wait_s=2.0, clock=clock)
    lines = {sn: session_line(sn, "ps", T0 + sn, sta=state) for sn, state in enumerate("dsp")}
    lines[3] = session_line(3, "ps", T0 + 3, sta="r")
    lines[5] = session_line(5, "ps", T0 + 5, sta="p")
    started = deliver([lines[0], lines[1], lines[2], lines[5]], states)
    assert [e["type"] for e in started.values()] == ["playback_request", "playback_start"], "sn 5 waits for 3 and 4"
    with_r = deliver([lines[3]], states)
    assert [e["type"] for e in with_r.values()] == ["stall_start"], "the r is complete; the p still waits for sn 4"
    clock.now = 2.5  # sn 4 is lost
    late = deliver([session_line(6, "t", T0 + 6, sta="p")], states)
    assert [e["type"] for e in late.values()] == ["stall_end", "heartbeat"]


@pytest.mark.parametrize(
    ("before", "new", "expected"),
    [
        ("d", "s", ["playback_request"]),
        ("ds", "p", ["playback_start"]),
        ("d", "p", ["playback_request", "playback_start"]),
        ("", "p", ["playback_start"]),  # nothing known in this process: the first frame
        ("sp", "r", ["stall_start"]),
        ("s", "r", []),  # buffering before the first frame is startup, not a stall
        ("spr", "p", ["stall_end"]),
        ("spa", "p", ["resume"]),
        ("spk", "p", ["seek_end"]),
        ("spkr", "p", ["stall_end", "seek_end"]),
        ("spak", "p", ["seek_end", "resume"]),
        ("spa", "w", []),
        ("sp", "w", ["pause"]),
        ("sp", "k", ["seek_start"]),
        ("spr", "e", ["stall_end", "ended", "view_end"]),
        ("sp", "q", ["view_end"]),
        ("spe", "p", []),  # a finished session stays finished
        ("sp", "f", []),  # the error report that follows carries the code
    ],
)
def test_play_state_changes(before: str, new: str, expected: list[str]) -> None:
    lines = [session_line(sn, "ps", T0 + 100 * sn, sta=state) for sn, state in enumerate(before)]
    lines.append(session_line(len(before), "ps", T0 + 100 * len(before), sta=new, bl=[1200]))
    events = deliver(lines)
    last = [events[seq] for seq in sorted(events) if seq // SEQ_STRIDE == len(before)]
    assert [e["type"] for e in last] == expected
    assert all(e["ts"] == T0 + 100 * len(before) for e in last)


def test_view_end_reasons_and_errors() -> None:
    events = deliver([session_line(0, "ps", T0, sta="s"), session_line(1, "ps", T0 + 1, sta="p")])
    quit_ = deliver([session_line(2, "ps", T0 + 2, sta="q")], _states_after("sp"))
    assert [e.get("reason") for e in quit_.values()] == ["user_exit"]
    fatal = deliver([session_line(3, "e", T0 + 3, sta="f", ec=["manifestLoadError"])])
    assert [(e["type"], e.get("fatal"), e.get("reason")) for e in fatal.values()] == [
        ("error", True, None),
        ("view_end", None, "error"),
    ]
    assert fatal[3 * SEQ_STRIDE]["code"] == "manifestLoadError"
    warning = deliver([session_line(4, "e", T0 + 4, sta="p", ec=["bufferStalledError", "x"])])
    assert [(e["type"], e["fatal"], e["message"]) for e in warning.values()] == [
        ("error", False, "bufferStalledError x")
    ]
    assert len(events) == 2


def _states_after(states: str) -> PlayStates:
    memory = PlayStates()
    deliver([session_line(sn, "ps", T0 + sn, sta=state) for sn, state in enumerate(states)], memory)
    return memory


def test_responses_become_request_events() -> None:
    lines = [
        session_line(0, "rr", T0, rc=200, ttfb=40, ttlb=90, url="https://cdn.example/v/seg_1.m4s?x=1"),
        session_line(1, "rr", T0, rc=200, ttfb=5, ttlb=9, url="https://cdn.example/v/init.mp4"),
        session_line(2, "rr", T0, rc=200, ttfb=5, ttlb=9, url="https://cdn.example/v/index.m3u8", cdn="cdn-b"),
        session_line(3, "rr", T0, rc=206, ttfb=5, ttlb=100, ot="v", br=[2400], d=2000),
        session_line(4, "rr", T0, rc=404, url="https://cdn.example/v/seg_2.m4s"),
        session_line(5, "rr", T0, rc=0, ot="m"),
    ]
    events = [deliver([line])[sn * SEQ_STRIDE] for sn, line in enumerate(lines)]
    assert [(e["type"], e["kind"], e.get("status")) for e in events] == [
        ("request_completed", "segment", 200),
        ("request_completed", "init", 200),
        ("request_completed", "manifest", 200),
        ("request_completed", "segment", 206),
        ("request_failed", "segment", 404),
        ("request_failed", "manifest", 0),
    ]
    assert (events[0]["ts"], events[0]["ttfb_ms"], events[0]["duration_ms"]) == (T0 + 90, 40, 90)
    assert events[2]["cdn"] == "cdn-b"
    assert events[3]["bytes"] == 600_000, "2400 kbps × 2000 ms / 8"


def test_heartbeats_while_watching_only_and_bitrate_changes() -> None:
    beats = [session_line(sn, "t", T0, sta=state, bl=[3000], dfa=7) for sn, state in enumerate(["p", "r", "k", "a"])]
    beats.append(session_line(9, "t", T0))
    events = deliver(beats)
    assert [(e["seq"] // SEQ_STRIDE, e["buffer_ms"], e["dropped_frames"]) for e in events.values()] == [
        (0, 3000, 7),
        (1, 3000, 7),
        (2, 3000, 7),
    ]
    change = deliver([session_line(10, "bc", T0, br=[2800], tb=[5000])])[10 * SEQ_STRIDE]
    assert (change["type"], change["bitrate_kbps"], change["top_bitrate_kbps"]) == ("rendition_change", 2800.0, 5000.0)
    assert deliver([session_line(11, "pr", T0, pr=2.0), session_line(12, "abs", T0)]) == {
        12 * SEQ_STRIDE: {"type": "ad_break_start", "ts": T0, "playhead_ms": 0, "seq": 12 * SEQ_STRIDE}
    }


def test_memory_is_bounded() -> None:
    states = PlayStates(max_sessions=3, per_session=2, clock=FrozenClock())
    for sid in "abcd":
        deliver([session_line(sn, "ps", T0, sid=sid, sta=s) for sn, s in enumerate("dsp")], states)
    assert len(states) == 3
    assert states.window("d", 3) == ([], "p"), "d's last changes (s, p) are kept"
    assert states.window("d", 2) == (["s"], None), "d's first change (d) is forgotten"
    assert states.window("a", 3) == ([], None), "the oldest session is forgotten"


def test_viewer_ids() -> None:
    assert derived_viewer_id("abc") == derived_viewer_id("abc") != derived_viewer_id("abd")
    assert derived_viewer_id("abc").startswith("cmcd-") and len(derived_viewer_id("abc")) == 29


# --- the route ---------------------------------------------------------------------------


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture
def client(sink: MemoryRecordSink) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(_env_file=None, max_body_bytes=50_000), sink)) as test_client:
        yield test_client


def _beacons(sink: MemoryRecordSink) -> list[tuple[bytes | None, BeaconRecord]]:
    return [(key, BeaconRecord.model_validate_json(value)) for topic, key, value in sink.records if topic == "beacons"]


def test_a_report_is_stored_as_beacon_records_keyed_by_session(client: TestClient, sink: MemoryRecordSink) -> None:
    body = "".join(HLSJS_SESSION[:12])
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


# --- CORS ----------------------------------------------------------------------------------

PREFLIGHT = {
    "origin": "https://video.example",
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type",
}


@pytest.mark.parametrize("path", ["/v1/cmcd", "/v1/beacons"])
def test_ingest_routes_answer_the_preflight(client: TestClient, path: str) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]


def test_ingest_answers_expose_retry_after_to_other_origins(client: TestClient, sink: MemoryRecordSink) -> None:
    sink.available = False
    response = client.post("/v1/beacons", content=orjson.dumps({"x": 1}), headers={"origin": "https://video.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_cors_stays_off_other_routes(client: TestClient) -> None:
    response = client.get("/healthz", headers={"origin": "https://video.example"})
    assert "access-control-allow-origin" not in response.headers
    assert client.options("/healthz", headers=PREFLIGHT).status_code == 405


def test_allowed_origins_can_be_listed(sink: MemoryRecordSink) -> None:
    assert parse_origins("") == ("*",)
    assert parse_origins(" https://a.example/, https://b.example ") == ("https://a.example", "https://b.example")
    app = create_app(Settings(_env_file=None), sink, cors_origins=parse_origins("https://video.example"))
    with TestClient(app) as listed:
        allowed = listed.options("/v1/cmcd", headers=PREFLIGHT)
        refused = listed.options("/v1/cmcd", headers={**PREFLIGHT, "origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://video.example"
    assert refused.status_code == 400
