"""CMCD records as events of the beacon contract, and the per-session state play-state changes need.

How a record maps (REFERENCE §5):

- view id = ``sid``; title id = ``cid``; stream type from ``st``; CDN from ``cdn``.
- viewer id = the custom key ``qoe-viewer`` when the player sends one, else ``cmcd-`` and the
  first 24 hex digits of SHA-256(sid): deterministic on every replica, one viewer per session,
  because CMCD carries no viewer identity and we do not fingerprint IP addresses.
- event ``seq`` = ``sn × 4 + i`` (a record yields at most four events): ``sn`` orders the
  events of a session and makes a retried report replace itself downstream.
- ``e=ps`` (play state), read against the states reported since the last ``p``
  (:func:`state_events`): s → playback_request; p → playback_start after s (after d also
  playback_request), else stall_end if an r, seek_end if a k, resume if an a or w came since;
  r → stall_start after the start (every wait, as the browser SDK reports them: the
  sessionizer leaves out those in seeks); k → seek_start; a, w → pause; e → ended +
  view_end(ended); q → view_end(user_exit); f → nothing by itself, the ``e`` report sent with
  it carries the error code; d → nothing.
- ``e=e`` → error (code = first ``ec``), fatal when ``sta=f``, then view_end(error).
- ``e=bc`` → rendition_change with ``br``, and ``top_bitrate_kbps`` from ``tb`` when sent.
  hls.js sends bc at LEVEL_SWITCHING (the decision), our SDK at LEVEL_SWITCHED (the playhead).
- ``e=rr`` → request_completed (``ttfb``, duration = ``ttlb``, bytes = ``br × d / 8`` when the
  record has both, else 0 = unknown, as the browser SDK reports it) or request_failed when
  ``rc`` is 0 or ≥ 400. Its ``ts`` is when the request started, so the event's ``ts`` is
  ``ts + ttlb``, when the response was received.
- ``e=t`` → heartbeat with ``bl`` and ``dfa`` when its own ``sta`` is p, r or k.
- ``abs``/``abe`` → ad_break_start/end; other event types are accepted and ignored.

Every report but a play-state change maps from itself alone. A play-state change needs the
changes before it, and hls.js posts every record on its own request, so reports of a session
arrive out of order (we saw a seek's ``k`` and the ``r`` 1 ms after it swap places).
:class:`PlayStates` keeps, in this process and bounded, which reports of each session arrived
and its recent changes; a change is mapped once every report since the last ``p`` is in, so its
events are final and each ``seq`` is sent once (the sessionizer keeps the first event of a
seq). A gap still open 2 s later is taken as lost. With several ingest replicas, route a
session's reports to one of them (client-IP affinity); otherwise, and after a restart, changes
wait out the 2 s and a ``p`` with nothing known before it counts as playback_start (the
sessionizer keeps the first). A player that reuses one ``sid`` for several contents (an hls.js
instance loading a second source) restarts ``sn`` at 0 and collides with its first view.

:func:`map_report` maps the records of one report; :func:`session_beacons` packs a session's
events into beacons of the contract.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.cmcd.parse import (
    ENDED,
    FATAL,
    MAX_TS,
    PAUSED,
    PLAYING,
    PRELOADING,
    QUIT,
    REBUFFERING,
    SEEKING,
    SEQ_STRIDE,
    STARTING,
    WAITING,
    CmcdRecord,
)
from schemas import MAX_EVENTS_PER_BEACON, SCHEMA_VERSION, Beacon

_FINISHED = frozenset((ENDED, FATAL, QUIT))
_HALTED = frozenset((PAUSED, WAITING))
_SETTLED = frozenset((PLAYING, ENDED, FATAL, QUIT))  # where a window of state changes starts
_WATCHING = frozenset((PLAYING, REBUFFERING, SEEKING))  # heartbeats only then, like the browser SDK

_OBJECT_KINDS = {"m": "manifest", "i": "init", "k": "key", "o": "other"}  # a, v, av, c, tt: segment
_STREAM_TYPES = {"v": "vod", "l": "live", "ll": "live"}


# --- mapping -----------------------------------------------------------------------------

EventSpec = tuple[str, dict[str, Any]]


@dataclass
class _Session:
    changes: dict[int, CmcdRecord] = field(default_factory=dict)  # recent play-state reports by sn
    pending: dict[int, float] = field(default_factory=dict)  # sn of changes not mapped yet → when seen
    done: set[int] = field(default_factory=set)  # sn of changes mapped (and sent, or being sent)
    seen: set[int] = field(default_factory=set)  # sn of recent reports of any kind
    floor: int = 0  # reports below this sn are no longer tracked: taken as seen


class PlayStates:
    """What each session's play-state reports (``e=ps``) need: the reports before them. Bounded.

    A state change means something only next to the changes before it: ``p`` after ``r`` ends
    a stall, after ``a`` a pause. hls.js posts every record on its own request and they overtake
    each other (a seek's ``k`` and the ``r`` 1 ms after it swap places), so a change is mapped
    only once every report before it, back to the last ``p``, has arrived; then its events are
    final, and each ``seq`` is sent once (the sessionizer keeps the first event of a seq). A
    gap still open ``max_wait_s`` after the change arrived is taken as lost: the change is
    mapped with what is known, when the next report of its session comes.
    """

    def __init__(
        self,
        max_sessions: int = 50_000,
        per_session: int = 32,
        max_wait_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._max_sessions = max_sessions
        self._per_session = per_session
        self._max_wait_s = max_wait_s
        self._clock = clock

    def observe(self, record: CmcdRecord) -> None:
        """Notes that ``record`` arrived; a play-state change not mapped before waits to be taken."""
        session = self._sessions.setdefault(record.sid, _Session())
        self._sessions.move_to_end(record.sid)
        session.seen.add(record.sn)
        if record.event == "ps" and record.sn not in session.done:
            session.changes[record.sn] = record
            session.pending.setdefault(record.sn, self._clock())
        self._trim(session)
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)

    def take(self, sid: str) -> list[CmcdRecord]:
        """The waiting changes of ``sid`` that can be mapped now, in order; they count as done."""
        session = self._sessions.get(sid)
        if session is None:
            return []
        now = self._clock()
        ready = [
            session.changes[sn]
            for sn in sorted(session.pending)
            if self._complete(session, sn) or now - session.pending[sn] >= self._max_wait_s
        ]
        for record in ready:
            del session.pending[record.sn]
            session.done.add(record.sn)
        return ready

    def give_back(self, records: Iterable[CmcdRecord]) -> None:
        """Changes taken whose events did not reach Kafka: they wait again (the player retries)."""
        for record in records:
            session = self._sessions.get(record.sid)
            if session is not None and record.sn in session.changes:
                session.done.discard(record.sn)
                session.pending.setdefault(record.sn, self._clock())

    def window(self, sid: str, sn: int) -> tuple[list[str], str | None]:
        """States reported before ``sn`` back to the last playing or finished one (latest first), and that one.

        ``None`` as the second item: no playing or finished state is known before ``sn``.
        """
        changes = self._sessions[sid].changes if sid in self._sessions else {}
        since: list[str] = []
        for n in sorted((n for n in changes if n < sn), reverse=True):
            state = changes[n].state or ""
            if state == PLAYING or state in _FINISHED:
                return since, state
            since.append(state)
        return since, None

    def _complete(self, session: _Session, sn: int) -> bool:
        """Every report between the last ``p`` (or finished state) before ``sn`` and ``sn`` arrived."""
        earlier_playing = [n for n in session.changes if n < sn and session.changes[n].state in _SETTLED]
        since = max(earlier_playing, default=-1) + 1
        return all(n in session.seen for n in range(max(since, session.floor), sn))

    def _trim(self, session: _Session) -> None:
        while len(session.changes) > self._per_session:
            oldest = min(session.changes)
            del session.changes[oldest]
            session.pending.pop(oldest, None)
            session.done.discard(oldest)
        while len(session.seen) > 16 * self._per_session:
            oldest = min(session.seen)
            session.seen.discard(oldest)
            session.floor = max(session.floor, oldest + 1)

    def __len__(self) -> int:
        return len(self._sessions)


def _closing(since: Sequence[str]) -> list[EventSpec]:
    """What a return to playing (or the end) closes: a stall, a seek."""
    return [(kind, {}) for state, kind in ((REBUFFERING, "stall_end"), (SEEKING, "seek_end")) if state in since]


def state_events(record: CmcdRecord, since: Sequence[str], boundary: str | None) -> list[EventSpec]:
    """Events of the play-state report ``record``, given the states reported since the last playing one.

    ``since`` lists the states between the last ``p`` (or finished state), ``boundary``, and this
    report, latest first; ``boundary`` is None when no ``p`` is known before it. Every wait after
    the start is a stall_start, like the browser SDK reports waits; the sessionizer leaves out
    those inside seeks (REFERENCE §1).
    """
    new = record.state
    if boundary in _FINISHED:
        return []  # a finished session stays finished
    in_startup = boundary is None and (STARTING in since or PRELOADING in since)
    if new == STARTING:
        return [("playback_request", {"autoplay": False})]
    if new == PLAYING:
        return _to_playing(since, boundary, in_startup)
    if new == REBUFFERING:
        return [] if in_startup else [("stall_start", {"buffer_ms": record.buffer_ms})]  # startup is no stall
    if new == SEEKING:
        return [("seek_start", {})]
    if new in _HALTED:
        return [] if since[:1] and since[0] in _HALTED else [("pause", {})]
    if new == ENDED:
        return [*_closing(since), ("ended", {}), ("view_end", {"reason": "ended"})]
    if new == QUIT:
        return [*_closing(since), ("view_end", {"reason": "user_exit"})]
    if new == FATAL:
        # The f state carries no error code; the e report sent with it does (hls.js sends both).
        return _error(record, fatal=True) if record.error_codes else []
    return []  # d: preloading is no play intent yet


def _to_playing(since: Sequence[str], boundary: str | None, in_startup: bool) -> list[EventSpec]:
    if in_startup and STARTING not in since:
        return [("playback_request", {"autoplay": False}), ("playback_start", {})]  # intent never sent as s
    if in_startup or (boundary is None and not since):
        return [("playback_start", {})]  # after s; or nothing known here (another replica saw the s)
    resumed: list[EventSpec] = [("resume", {})] if any(state in _HALTED for state in since) else []
    return [*_closing(since), *resumed]


def _error(record: CmcdRecord, fatal: bool) -> list[EventSpec]:
    code = record.error_codes[0] if record.error_codes else "CMCD_ERROR"
    error: EventSpec = ("error", {"code": code, "message": " ".join(record.error_codes)[:1024], "fatal": fatal})
    return [error, ("view_end", {"reason": "error"})] if fatal else [error]


def _request_events(record: CmcdRecord) -> list[EventSpec]:
    kind = _request_kind(record)
    status = record.response_code if record.response_code is not None else 200
    cdn = {"cdn": record.cdn} if record.cdn else {}
    if status == 0 or status >= 400:
        return [("request_failed", {"kind": kind, "status": status, **cdn})]
    size = 0  # unknown: CMCD reports no byte count
    if record.bitrate_kbps is not None and record.object_duration_ms is not None:
        size = round(record.bitrate_kbps * record.object_duration_ms / 8)  # kbps × ms / 8 = bytes
    fields = {"kind": kind, "bytes": size, "duration_ms": record.ttlb_ms or 0, "ttfb_ms": record.ttfb_ms}
    return [("request_completed", {**fields, "status": max(100, status), **cdn})]


def _request_kind(record: CmcdRecord) -> str:
    if record.object_type is not None:
        return _OBJECT_KINDS.get(record.object_type, "segment")
    path = (record.url or "").split("?", 1)[0].lower()
    if path.endswith((".m3u8", ".mpd")):
        return "manifest"
    return "init" if "init" in path.rsplit("/", 1)[-1] else "segment"


def record_events(record: CmcdRecord) -> list[EventSpec]:
    """The events a report other than a play-state change stands for: a function of the report alone.

    Its own ``sta`` is the player's state when it was made, which is all a heartbeat or an error needs.
    """
    if record.event == "e":
        return _error(record, fatal=record.state == FATAL)
    if record.event == "bc" and record.bitrate_kbps is not None:
        return [
            ("rendition_change", {"bitrate_kbps": record.bitrate_kbps, "top_bitrate_kbps": record.top_bitrate_kbps})
        ]
    if record.event == "rr":
        return _request_events(record)
    if record.event == "t" and record.state in _WATCHING:
        return [("heartbeat", {"buffer_ms": record.buffer_ms, "dropped_frames": record.dropped_frames})]
    ad_break = {"abs": "ad_break_start", "abe": "ad_break_end"}.get(record.event)
    return [(ad_break, {})] if ad_break else []


def _event_json(record: CmcdRecord, index: int, spec: EventSpec) -> dict[str, Any]:
    kind, extra = spec
    happened = record.ts + (record.ttlb_ms or 0) if record.event == "rr" else record.ts
    return {
        "type": kind,
        "ts": min(happened, MAX_TS),
        "playhead_ms": record.playhead_ms or 0,
        "seq": record.sn * SEQ_STRIDE + index,
        **{k: v for k, v in extra.items() if v is not None},
    }


# --- beacons -----------------------------------------------------------------------------


@dataclass
class SessionReport:
    """The records of one session in one report, and the beacon events they give now.

    ``changes`` are the play-state reports mapped for this answer, this report's or earlier
    ones that waited for it; give them back to the memory if the events do not reach Kafka.
    """

    sid: str
    records: list[CmcdRecord]
    events: list[dict[str, Any]] = field(default_factory=list)
    changes: list[CmcdRecord] = field(default_factory=list)


def map_report(records: Iterable[CmcdRecord], states: PlayStates) -> list[SessionReport]:
    """Groups records by session and maps them: every report but a play-state change at once, the
    changes once the reports before them are in (:class:`PlayStates`)."""
    sessions: dict[str, SessionReport] = {}
    for record in sorted(records, key=lambda r: (r.sid, r.sn)):
        sessions.setdefault(record.sid, SessionReport(record.sid, [])).records.append(record)
    for session in sessions.values():
        for record in session.records:
            states.observe(record)
        session.changes = states.take(session.sid)
        mapped = [r for r in session.records if r.event != "ps"] + session.changes
        for record in sorted(mapped, key=lambda r: r.sn):
            specs = (
                state_events(record, *states.window(record.sid, record.sn))
                if record.event == "ps"
                else record_events(record)
            )
            session.events += [_event_json(record, i, spec) for i, spec in enumerate(specs)]
    return list(sessions.values())


def derived_viewer_id(sid: str) -> str:
    """CMCD has no viewer id: one viewer per session, the same on every replica."""
    return "cmcd-" + hashlib.sha256(sid.encode()).hexdigest()[:24]


def _first(records: Sequence[CmcdRecord], read: Callable[[CmcdRecord], str | None]) -> str | None:
    return next((value for value in map(read, records) if value), None)


def session_beacons(session: SessionReport) -> list[Beacon]:
    """The session's events as beacons of at most MAX_EVENTS_PER_BEACON events (none if no events)."""
    records = session.records
    context: dict[str, Any] = {"title_id": _first(records, lambda r: r.cid) or ""}
    stream_type = _first(records, lambda r: r.stream_type)
    if stream_type in _STREAM_TYPES:
        context["stream_type"] = _STREAM_TYPES[stream_type]
    context["cdn"] = _first(records, lambda r: r.cdn) or ""
    viewer = _first(records, lambda r: r.viewer) or derived_viewer_id(session.sid)
    sdk = {"name": "cmcd", "version": str(records[0].version)}
    beacons = []
    for start in range(0, len(session.events), MAX_EVENTS_PER_BEACON):
        chunk = session.events[start : start + MAX_EVENTS_PER_BEACON]
        body = {
            "version": SCHEMA_VERSION,
            "view_id": session.sid,
            "viewer_id": viewer,
            "batch_seq": chunk[0]["seq"] // SEQ_STRIDE,
            "sdk": sdk,
            "context": context,
            "events": chunk,
        }
        beacons.append(Beacon.model_validate(body))
    return beacons
