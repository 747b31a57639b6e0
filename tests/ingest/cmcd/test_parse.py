"""CMCD v2 event mode: the parser, on a real hls.js 1.7.4 session and on lines that are wrong.

The session was recorded from Chromium (``tests.factories.cmcd.HLSJS_SESSION``).
"""

from __future__ import annotations

import pytest

from ingest.cmcd.parse import parse_record, parse_report
from tests.factories.cmcd import HLSJS_SESSION, HLSJS_SID, T0, cmcd_line, session_line


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
