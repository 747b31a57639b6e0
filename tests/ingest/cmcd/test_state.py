"""CMCD v2 event mode: records mapped onto beacon events, with the per-session memory of play states.

The mapping is checked on a real hls.js 1.7.4 session recorded from Chromium
(``tests.factories.cmcd.HLSJS_SESSION``); the browser test runs hls.js live against the stack.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from ingest.cmcd.parse import SEQ_STRIDE, parse_record
from ingest.cmcd.state import PlayStates, derived_viewer_id
from tests.factories.cmcd import T0, FrozenClock, deliver, hlsjs_lines, session_line


def types(events: dict[int, dict[str, Any]], skip: tuple[str, ...] = ("request_completed",)) -> list[str]:
    return [events[seq]["type"] for seq in sorted(events) if events[seq]["type"] not in skip]


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
