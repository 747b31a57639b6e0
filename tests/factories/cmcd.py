"""CMCD factories: a real hls.js CMCD v2 event-mode session as it arrived, and a line builder.

``HLSJS_SESSION`` is what hls.js 1.7.4 (``cmcd: {version: 2, eventTargets: [{events: [ps, e, t, rr,
bc], interval: 2}]}``, ``maxBufferLength: 4``) posted from headless Chromium 156 while playing the
Big Buck Bunny ladder of ``ingest.media`` from a local origin: start, pause 1 s, resume, seek to 10 s,
the origin throttled to 250 kbps until a stall and a down-switch, then played to the end. One
request body per item, in the order they reached the collector (hls.js posts each record on
its own request, so ``sn`` 8 came before 1 and the seek's ``sn`` 25 before 24).

``deliver`` maps lines one report at a time, as hls.js posts them, the way the route does.
"""

from __future__ import annotations

from typing import Any

import http_sf

from ingest.cmcd.parse import parse_report
from ingest.cmcd.state import PlayStates, map_report

T0 = 1_790_000_000_000

HLSJS_SID = "6e2fb550-c457-11e9-bb97-0800200c9a66"

HLSJS_SESSION: tuple[str, ...] = (
    'cid="bbb",e=t,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=0,ts=1795319941942,v=2\n',
    'br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=6,st=v,sta=s,ts=1795319942120,ttfb=175,ttlb=175,url="http://127.0.0.1:36209/audio/init.mp4",v=2\n',
    'br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=7,st=v,sta=s,ts=1795319942123,ttfb=176,ttlb=176,url="http://127.0.0.1:36209/audio/seg_0000.m4s",v=2\n',
    'bl=(0),br=(3801),cid="bbb",e=bc,mtp=(700),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=8,st=v,sta=s,ts=1795319942309,v=2\n',
    'cid="bbb",e=ps,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=1,sta=d,ts=1795319941959,v=2\n',
    'bl=(0),br=(3801),cid="bbb",e=rr,mtp=(12300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=9,st=v,sta=s,ts=1795319942314,ttfb=62,ttlb=63,url="http://127.0.0.1:36209/audio/seg_0001.m4s",v=2\n',
    'cid="bbb",e=ps,mtp=(500),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=2,sta=s,ts=1795319942020,v=2\n',
    'br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=5,st=v,sta=s,ts=1795319942112,ttfb=68,ttlb=69,url="http://127.0.0.1:36209/240p/init.mp4",v=2\n',
    'bl=(0),br=(3801),cid="bbb",e=rr,mtp=(12300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=11,st=v,sta=p,ts=1795319942374,ttfb=35,ttlb=45,url="http://127.0.0.1:36209/720p/seg_0001.m4s",v=2\n',
    'bl=(0),br=(3801),cid="bbb",e=ps,mtp=(12300),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=10,st=v,sta=p,ts=1795319942402,v=2\n',
    'br=(662),cid="bbb",e=bc,mtp=(500),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=3,sta=s,ts=1795319942038,v=2\n',
    'br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=4,st=v,sta=s,ts=1795319942116,ttfb=20,ttlb=23,url="http://127.0.0.1:36209/240p/seg_0000.m4s",v=2\n',
    'bl=(0),br=(3801),cid="bbb",e=rr,mtp=(12300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=12,st=v,sta=p,ts=1795319942372,ttfb=95,ttlb=97,url="http://127.0.0.1:36209/720p/init.mp4",v=2\n',
    'bl=(4000),br=(3801),cid="bbb",e=rr,mtp=(40600),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=13,st=v,sta=p,ts=1795319942478,ttfb=58,ttlb=63,url="http://127.0.0.1:36209/audio/seg_0002.m4s",v=2\n',
    'bl=(4000),br=(3801),cid="bbb",e=rr,mtp=(40600),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=14,st=v,sta=p,ts=1795319942539,ttfb=15,ttlb=25,url="http://127.0.0.1:36209/720p/seg_0002.m4s",v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=t,mtp=(40600),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=15,st=v,sta=p,ts=1795319943943,v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=rr,mtp=(77500),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=16,st=v,sta=p,ts=1795319944551,ttfb=44,ttlb=45,url="http://127.0.0.1:36209/audio/seg_0003.m4s",v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=rr,mtp=(77500),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=17,st=v,sta=p,ts=1795319944637,ttfb=13,ttlb=16,url="http://127.0.0.1:36209/720p/seg_0003.m4s",v=2\n',
    'bl=(5800),br=(3801),cid="bbb",e=ps,mtp=(77500),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=18,st=v,sta=a,ts=1795319945465,v=2\n',
    'bl=(5800),br=(3801),cid="bbb",e=t,mtp=(77500),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=19,st=v,sta=a,ts=1795319945942,v=2\n',
    'bl=(5800),br=(3801),cid="bbb",e=ps,mtp=(77500),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=20,st=v,sta=p,ts=1795319946473,v=2\n',
    'bl=(5800),br=(3801),cid="bbb",e=rr,mtp=(121800),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=21,st=v,sta=p,ts=1795319947538,ttfb=20,ttlb=23,url="http://127.0.0.1:36209/720p/seg_0004.m4s",v=2\n',
    'bl=(5800),br=(3801),cid="bbb",e=rr,mtp=(121800),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=22,st=v,sta=p,ts=1795319947548,ttfb=34,ttlb=35,url="http://127.0.0.1:36209/audio/seg_0004.m4s",v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=t,mtp=(121800),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=23,st=v,sta=p,ts=1795319947943,v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=ps,mtp=(121800),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=25,st=v,sta=r,ts=1795319948481,v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=ps,mtp=(121800),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=24,st=v,sta=k,ts=1795319948480,v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=rr,mtp=(144300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=26,st=v,sta=r,ts=1795319948488,ttfb=22,ttlb=39,url="http://127.0.0.1:36209/720p/seg_0005.m4s",v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=rr,mtp=(144300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=27,st=v,sta=r,ts=1795319948489,ttfb=65,ttlb=93,url="http://127.0.0.1:36209/audio/seg_0005.m4s",v=2\n',
    'bl=(2000),br=(3801),cid="bbb",e=rr,mtp=(147100),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=28,st=v,sta=r,ts=1795319948602,ttfb=25,ttlb=42,url="http://127.0.0.1:36209/audio/seg_0006.m4s",v=2\n',
    'bl=(2000),br=(3801),cid="bbb",e=rr,mtp=(147100),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=29,st=v,sta=r,ts=1795319948604,ttfb=61,ttlb=76,url="http://127.0.0.1:36209/720p/seg_0006.m4s",v=2\n',
    'bl=(2000),br=(3801),cid="bbb",e=ps,mtp=(147100),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=30,st=v,sta=p,ts=1795319948688,v=2\n',
    'bl=(4000),br=(3801),cid="bbb",e=rr,mtp=(140800),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=31,st=v,sta=p,ts=1795319948751,ttfb=5,ttlb=6,url="http://127.0.0.1:36209/audio/seg_0007.m4s",v=2\n',
    'bl=(4000),br=(3801),cid="bbb",e=rr,mtp=(140800),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=32,st=v,sta=p,ts=1795319948836,ttfb=7,ttlb=11,url="http://127.0.0.1:36209/720p/seg_0007.m4s",v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=t,mtp=(140800),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=33,st=v,sta=p,ts=1795319949944,v=2\n',
    'bl=(5900),br=(3801),cid="bbb",e=t,mtp=(155600),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=34,st=v,sta=p,ts=1795319951942,v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=bc,mtp=(155600),ot=v,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=35,st=v,sta=p,ts=1795319952137,v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=36,st=v,sta=p,ts=1795319950755,ttfb=727,ttlb=1516,url="http://127.0.0.1:36209/audio/seg_0008.m4s",v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=t,mtp=(700),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=37,st=v,sta=p,ts=1795319953944,v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=ps,mtp=(700),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=38,st=v,sta=r,ts=1795319954778,v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=t,mtp=(700),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=39,st=v,sta=r,ts=1795319955942,v=2\n',
    'bl=(5900),br=(662),cid="bbb",e=rr,mtp=(700),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=40,st=v,sta=r,ts=1795319952146,ttfb=1174,ttlb=4324,url="http://127.0.0.1:36209/240p/seg_0008.m4s",v=2\n',
    'bl=(2000),br=(662),cid="bbb",e=ps,mtp=(300),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=41,st=v,sta=p,ts=1795319956478,v=2\n',
    'bl=(2000),br=(662),cid="bbb",e=rr,mtp=(300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=42,st=v,sta=p,ts=1795319956474,ttfb=14,ttlb=15,url="http://127.0.0.1:36209/240p/seg_0009.m4s",v=2\n',
    'bl=(2000),br=(662),cid="bbb",e=rr,mtp=(300),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=43,st=v,sta=p,ts=1795319956472,ttfb=59,ttlb=60,url="http://127.0.0.1:36209/audio/seg_0009.m4s",v=2\n',
    'bl=(4000),br=(662),cid="bbb",e=rr,mtp=(600),rc=200,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=44,st=v,sta=p,ts=1795319956535,ttfb=48,ttlb=49,url="http://127.0.0.1:36209/audio/seg_0010.m4s",v=2\n',
    'bl=(4000),br=(662),cid="bbb",e=t,mtp=(600),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=45,st=v,sta=p,ts=1795319957943,v=2\n',
    'bl=(4000),br=(662),cid="bbb",e=t,mtp=(600),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=46,st=v,sta=p,ts=1795319959942,v=2\n',
    'bl=(4000),br=(662),cid="bbb",e=ps,mtp=(600),sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=47,st=v,sta=e,ts=1795319960607,v=2\n',
)

TOKEN_KEYS = frozenset(("e", "sta", "ot", "st", "sf"))


def cmcd_line(**keys: Any) -> str:
    """One CMCD record line from keyword arguments (``qoe_viewer`` stands for the key ``qoe-viewer``).

    Token keys take plain strings; a list becomes an inner list; True is a bare key.
    """
    members: dict[str, Any] = {}
    for name, value in keys.items():
        key = name.replace("_", "-")
        if key in TOKEN_KEYS and isinstance(value, str):
            value = http_sf.Token(value)
        elif isinstance(value, list):
            value = [(item, {}) for item in value]
        members[key] = (value, {})
    serialized: str = http_sf.ser(members)
    return serialized


def session_line(sn: int, e: str, ts: int, sid: str = "s-1", **keys: Any) -> str:
    """A v2 event record of session ``sid`` with the keys every report carries."""
    return cmcd_line(e=e, sid=sid, sn=sn, ts=ts, v=2, **keys)


def hlsjs_lines() -> list[str]:
    return [line for body in HLSJS_SESSION for line in body.splitlines()]


class FrozenClock:
    """A monotonic clock that moves only when a test sets ``now``."""

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
        assert errors == [], errors
        for session in map_report(records, states):
            for event in session.events:
                assert event["seq"] not in final, f"seq {event['seq']} sent twice"
                final[event["seq"]] = event
    return final
