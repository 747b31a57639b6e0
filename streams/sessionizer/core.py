"""Open views in memory, folded as their beacons arrive and flushed to the warehouse.

The warehouse is the authority, memory is a cache:

- A flush writes, for each view that changed, its record (``views``) and the *difference*
  between what the view now contributes to each (minute, CDN) cell and what was written for it
  before (``view_deltas``). Rollups sum the deltas, so a view counts once however often it is
  rewritten, and a correction (a late event, a re-fold, a view that closes) is one more delta.
- A view this process has not seen yet is looked up in ``views`` at the next flush. If it is
  there (a restart, a rebalance, a late event for an evicted view), its events come back from
  ``beacon_events`` and its ledger (what was written) from ``view_deltas``, and it is folded
  again from scratch. Nothing is emitted for a view before that check.
- Records are acknowledged to Kafka only after the flush that covered them is stored, so a
  crash replays them; replayed events are duplicates by seq and the delta against the ledger
  is then zero. The Faust changelog is therefore never needed for correctness.

The I/O steps (``load``, ``write``) take no lock and touch no session, so the Faust adapter runs
them on worker threads while the event loop keeps folding; ``plan`` and ``apply`` run on the loop.

A view whose rows the warehouse refuses as bad data is dead-lettered by the caller and dropped
from memory (``drop``): memory never holds a ledger the warehouse lacks, and a later event for the
view rebuilds it from the warehouse like any view this process has not seen.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import pandas as pd

from schemas.view_facts import COLUMNS, Key
from streams.failures import Refused
from streams.scoring.score import score_sessions
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.events import BeaconIn, Dims, Ev, RecordError, read_record
from streams.sessionizer.fold import OVER, Phase, ViewFold, fold_events
from streams.sessionizer.store import Ledger, StoredView, ViewRows, ViewStore
from streams.sessionizer.view import (
    Outcome,
    ViewMeta,
    contribution,
    outcome,
    qoe_input,
    samples_delta,
    vector_delta,
    view_facts,
    view_record,
)

log = logging.getLogger(__name__)
_BY_SEQ = itemgetter(0)  # Ev.seq

# score_sessions column → views column
_SCORE_FIELDS = (
    ("total", "qoe_score"),
    ("success", "score_success"),
    ("startup", "score_startup"),
    ("smoothness", "score_smoothness"),
    ("quality", "score_quality"),
)


class Registry(Protocol):
    """Where open views are listed for a restarted worker (the Faust table; a dict in tests)."""

    def opened(self, view_id: str, partition: int, last_received_ms: int) -> None: ...

    def closed(self, view_id: str, partition: int) -> None: ...

    def evicted(self, view_id: str, partition: int) -> None: ...


@dataclass(slots=True)
class ViewSession:
    meta: ViewMeta
    partition: int
    fold: ViewFold
    last_received_ms: int
    events: dict[int, Ev] = field(default_factory=dict)
    contiguous: int = -1  # every seq up to here is known
    verified: bool = False  # looked up in the warehouse by this process
    refold: bool = False  # fold from scratch at the next flush (late or out-of-order events)
    timed_out: bool = False
    changed: bool = False
    version: int = 0  # of the last views row written; 0: nothing was ever written for this view
    emitted: dict[Key, list[float]] = field(default_factory=dict)
    emitted_samples: dict[Key, list[int]] = field(default_factory=dict)
    fact_keys: set[Key] = field(default_factory=set)
    vst_emitted: bool = False
    closed_since: float | None = None  # monotonic time the close was written
    registered_open: bool = False

    def add(self, events: list[Ev]) -> list[Ev]:
        """Keeps the events not seen before; returns them in seq order."""
        fresh: list[Ev] = []
        for ev in sorted(events, key=_BY_SEQ):
            if ev.seq not in self.events:
                self.events[ev.seq] = ev
                fresh.append(ev)
        while self.contiguous + 1 in self.events:
            self.contiguous += 1
        return fresh

    @property
    def closed(self) -> bool:
        return self.timed_out or self.fold.phase is Phase.CLOSED


@dataclass
class FlushPlan:
    sessions: list[ViewSession]
    lookup: list[str]  # views new to this process: look them up in the warehouse
    refold: list[str]  # views written before that must be folded again: read their ledgers


@dataclass
class Loaded:
    known: dict[str, StoredView] = field(default_factory=dict)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    events: dict[str, list[Ev]] = field(default_factory=dict)


@dataclass
class Writes:
    rows: list[ViewRows]
    token: str

    @property
    def views(self) -> list[dict[str, Any]]:
        return [r.view for r in self.rows]

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [delta for r in self.rows for delta in r.deltas]

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass
class SessionizerStats:
    records: int = 0
    bad_records: int = 0
    events: int = 0
    duplicates: int = 0
    refolds: int = 0
    rebuilt: int = 0
    late_ignored: int = 0
    flushes: int = 0
    views_written: int = 0
    deltas_written: int = 0
    events_written: int = 0  # net events the written deltas add to the rollups
    dead_lettered: int = 0  # views whose rows the warehouse refused


class Sessionizer:
    def __init__(
        self,
        store: ViewStore,
        config: SessionizerConfig | None = None,
        registry: Registry | None = None,
        clock: Any = time.time,
    ) -> None:
        self.store = store
        self.config = config or SessionizerConfig()
        self.registry = registry
        self.clock = clock
        self.sessions: dict[str, ViewSession] = {}
        self.stats = SessionizerStats()
        self._changed_since: float | None = None
        self._changed = 0

    # --- input ------------------------------------------------------------------------------
    def ingest(self, value: bytes, partition: int) -> bool:
        """Folds one beacons-topic record; False (and nothing changes) if it is not a beacon record."""
        return self.fold_record(value, partition) is None

    def fold_record(self, value: bytes, partition: int) -> str | None:
        """Folds one beacons-topic record; returns why it was refused (for the dead-letter topic), or None."""
        self.stats.records += 1
        try:
            beacon = read_record(value)
        except RecordError as exc:
            self.stats.bad_records += 1
            log.warning("sessionizer skipped a record of partition %d: %s", partition, exc)
            return str(exc)
        try:
            self.ingest_beacon(beacon, partition)
        except Exception as exc:  # a bug this data found: it must not stop the partition (a crash loop)
            log.exception("sessionizer could not fold a record of view %s; dropping the view", beacon.view_id)
            self.stats.bad_records += 1
            self.drop(beacon.view_id)
            return f"the fold failed: {exc!r}"[:300]
        return None

    def ingest_beacon(self, beacon: BeaconIn, partition: int) -> None:
        session = self.sessions.get(beacon.view_id)
        if session is None:
            meta = ViewMeta(
                beacon.view_id, beacon.viewer_id, beacon.dims, beacon.clock_offset_ms, beacon.received_at_ms
            )
            fold = ViewFold(beacon.clock_offset_ms, beacon.dims.cdn, self.config.max_gap_ms)
            session = ViewSession(meta, partition, fold, 0)
            self.sessions[beacon.view_id] = session
        if self._too_late(session, beacon.received_at_ms):
            self.stats.late_ignored += len(beacon.events)
            return
        session.last_received_ms = max(session.last_received_ms, beacon.received_at_ms)
        fresh = session.add(beacon.events)
        self.stats.events += len(fresh)
        self.stats.duplicates += len(beacon.events) - len(fresh)
        if not fresh:
            return
        self._mark_changed(session)
        session.timed_out = False  # activity reopens a view closed by the timeout
        session.closed_since = None
        if session.refold:
            return
        if fresh[0].seq < session.fold.max_seq:
            session.refold = True  # an event before what is folded: fold again at the flush
            return
        for ev in fresh:
            session.fold.apply(ev)

    def _too_late(self, session: ViewSession, received_ms: int) -> bool:
        # Past the raw-event retention the view's events and ledger are gone: it cannot be re-folded.
        return received_ms - session.meta.first_seen_ms > self.config.late_limit_days * 86_400_000

    def _mark_changed(self, session: ViewSession) -> None:
        if not session.changed:
            session.changed = True
            self._changed += 1
        if self._changed_since is None:
            self._changed_since = time.monotonic()

    def resume(self, views: Iterable[tuple[str, int, int]]) -> int:
        """Takes back views a previous worker left open: (view id, partition, last received ms).

        They are rebuilt from the warehouse at the next flush, so their timeouts run here.
        """
        added = 0
        for view_id, partition, received_ms in views:
            if view_id in self.sessions:
                continue
            meta = ViewMeta(view_id, "", Dims(), 0, received_ms)
            session = ViewSession(meta, partition, ViewFold(0, max_gap_ms=self.config.max_gap_ms), received_ms)
            self.sessions[view_id] = session
            self._mark_changed(session)
            added += 1
        return added

    def drop(self, view_id: str) -> None:
        """Forgets a view whose rows were refused, so memory holds nothing the warehouse lacks."""
        session = self.sessions.pop(view_id, None)
        if session is not None and self.registry is not None and session.registered_open:
            self.registry.closed(view_id, session.partition)

    def forget(self, partitions: set[int]) -> int:
        """Drops the views of partitions this worker no longer owns (after a flush)."""
        gone = [v for v, s in self.sessions.items() if s.partition in partitions]
        for view_id in gone:
            del self.sessions[view_id]
        return len(gone)

    # --- flushing -------------------------------------------------------------------------
    def due(self) -> bool:
        if self._changed_since is None:
            return False
        waited = time.monotonic() - self._changed_since
        return waited >= self.config.flush_interval_s or self._changed >= self.config.flush_views

    def plan(self) -> FlushPlan:
        """Closes timed-out views and lists what changed (event loop)."""
        now_ms = int(self.clock() * 1000)
        for session in self.sessions.values():
            if not session.closed and self._timed_out(session, now_ms):
                session.timed_out = True
                self._mark_changed(session)
        changed = [s for s in self.sessions.values() if s.changed]
        lookup = [s.meta.view_id for s in changed if not s.verified]
        refold = [s.meta.view_id for s in changed if s.verified and s.refold and s.version > 0]
        self._changed_since = None
        self._changed = 0
        return FlushPlan(changed, lookup, refold)

    def _timed_out(self, session: ViewSession, now_ms: int) -> bool:
        idle_s = (now_ms - session.last_received_ms) / 1000
        grace = self.config.ended_grace_s if session.fold.phase in OVER else self.config.inactivity_timeout_s
        return idle_s >= grace

    def load(self, plan: FlushPlan) -> Loaded:
        """Reads what the warehouse knows of views new to this process or to fold again (I/O only)."""
        known = self.store.known(plan.lookup)
        rebuild = [v for v in plan.lookup if v in known]
        return Loaded(known, self.store.ledgers(rebuild + plan.refold), self.store.events(rebuild))

    def apply(self, plan: FlushPlan, loaded: Loaded) -> Writes:
        """Folds what must be folded again and computes the rows to write (event loop)."""
        ready: list[ViewSession] = []
        lookup = set(plan.lookup)
        for session in plan.sessions:
            view_id = session.meta.view_id
            if not session.verified:
                if view_id not in lookup:
                    continue  # first seen after the plan: checked at the next flush
                self._verify(session, loaded.known.get(view_id), loaded.events.get(view_id, []))
                if not session.events:  # resumed from the registry, unknown to the warehouse
                    del self.sessions[view_id]
                    continue
            if session.refold:
                # Nothing written yet means an empty ledger; otherwise it must have been read.
                ledger = loaded.ledgers.get(view_id) if session.version else Ledger({}, {}, False)
                if ledger is None:
                    # Went out of order after the plan. Skipping it is safe even though its earlier
                    # records may be acknowledged: it has a views row, so a restart rebuilds it.
                    self._mark_changed(session)
                    continue
                self._refold(session, ledger)
            ready.append(session)
        writes = self._rows(ready)
        for session in ready:
            self._after_write(session)
        rebuilt = sum(1 for v in plan.lookup if v in loaded.known)
        if rebuilt:  # a restart, a rebalance or a late event for a view no longer in memory
            log.warning("sessionizer: rebuilt %d views from the warehouse (events and ledger)", rebuilt)
        self.stats.flushes += 1
        self.stats.views_written += len(writes.views)
        self.stats.deltas_written += len(writes.deltas)
        self.stats.events_written += int(sum(row.get("events", 0) for row in writes.deltas))
        return writes

    def write(self, writes: Writes) -> list[Refused[ViewRows]]:
        """Writes the flush (I/O only); returns the views the warehouse refused as bad data."""
        return self.store.write(writes.rows, writes.token) if writes else []

    def refused(self, refused: list[Refused[ViewRows]]) -> None:
        """After a write: drops the refused views (the caller dead-letters them)."""
        for bad in refused:
            log.warning("sessionizer: the warehouse refused view %s: %s", bad.item.view_id, bad.reason)
            self.stats.dead_lettered += 1
            self.drop(bad.item.view_id)

    def flush(self) -> Writes:
        """plan → load → apply → write, in this thread (tests and the shutdown path)."""
        plan = self.plan()
        writes = self.apply(plan, self.load(plan))
        self.refused(self.write(writes))
        self.evict()
        return writes

    def evict(self) -> int:
        """Drops views closed for longer than ``evict_after_s``; a late event rebuilds them."""
        now = time.monotonic()
        old = [
            s
            for s in self.sessions.values()
            if s.closed_since is not None and not s.changed and now - s.closed_since >= self.config.evict_after_s
        ]
        for session in old:
            del self.sessions[session.meta.view_id]
            if self.registry is not None:
                self.registry.evicted(session.meta.view_id, session.partition)
        return len(old)

    # --- internals ------------------------------------------------------------------------
    def _verify(self, session: ViewSession, stored: StoredView | None, events: list[Ev]) -> None:
        session.verified = True
        if stored is None:
            return  # nothing was ever written for it: every record of it is still ahead of us
        self.stats.rebuilt += 1
        session.meta = stored.meta
        session.version = stored.version
        session.last_received_ms = max(session.last_received_ms, stored.last_received_ms)
        session.registered_open = not stored.closed
        session.add(events)
        session.refold = True

    def _refold(self, session: ViewSession, ledger: Ledger) -> None:
        self.stats.refolds += 1
        session.fold = fold_events(
            session.events.values(), session.meta.clock_offset_ms, session.meta.dims.cdn, self.config.max_gap_ms
        )
        session.emitted = ledger.vectors
        session.emitted_samples = ledger.samples
        session.vst_emitted = ledger.vst_emitted
        # Every cell the view ever touched is compared, so facts that moved are taken back.
        session.fact_keys = set(ledger.vectors) | set(ledger.samples)
        session.fold.dirty.update(session.fold.buckets)
        session.fold.dirty.update(session.fold.samples)
        session.refold = False

    def _rows(self, sessions: list[ViewSession]) -> Writes:
        for session in sessions:
            session.fold.settle()
        outcomes = [outcome(s.fold, s.timed_out) for s in sessions]
        records = [view_record(s.fold, s.meta, out) for s, out in zip(sessions, outcomes, strict=True)]
        scores = _scores(sessions, outcomes, records)
        rows: list[ViewRows] = []
        for session, out, record in zip(sessions, outcomes, records, strict=True):
            session.version = max(time.time_ns() // 1000, session.version + 1)
            record["version"] = session.version
            record["last_received_at"] = session.last_received_ms
            final_score = scores.get(session.meta.view_id) if out.closed else None
            deltas = self._deltas(session, out, final_score)
            rows.append(ViewRows(session.meta.view_id, _views_row(record), deltas))
        return Writes(rows, uuid.uuid4().hex)

    def _deltas(self, session: ViewSession, out: Outcome, score: float | None) -> list[dict[str, Any]]:
        fold = session.fold
        facts = view_facts(fold, out, score)
        vst_key = self._vst_to_emit(session, out)
        keys = fold.dirty | set(facts) | session.fact_keys
        if vst_key is not None:
            keys.add(vst_key)
        base = _dims_row(session)
        rows = []
        for key in sorted(keys):
            new = contribution(fold, facts, key)
            change = vector_delta(new, session.emitted.get(key))
            new_samples = fold.samples.get(key)
            sample_change = samples_delta(new_samples, session.emitted_samples.get(key))
            vst = out.vst_ms if key == vst_key else None
            if change is None and sample_change is None and vst is None:
                continue
            rows.append(_delta_row(base, key, session.version, change, sample_change, vst))
            _remember(session.emitted, key, new)
            _remember(session.emitted_samples, key, new_samples)
        if vst_key is not None:
            session.vst_emitted = True
        session.fact_keys = set(facts)
        fold.dirty.clear()
        return rows

    def _vst_to_emit(self, session: ViewSession, out: Outcome) -> Key | None:
        """The play cell, once the startup time can no longer change (see docs/metrics.md)."""
        fold = session.fold
        if session.vst_emitted or out.vst_ms is None or fold.start_seq is None or fold.start_ts is None:
            return None
        if not out.closed and session.contiguous < fold.start_seq:
            return None  # an event before the first frame may still arrive and move it
        return (fold.minute_of(fold.start_ts), fold.play_cdn)

    def _after_write(self, session: ViewSession) -> None:
        session.changed = False
        view_id, partition = session.meta.view_id, session.partition
        if session.closed:
            if session.closed_since is None:
                session.closed_since = time.monotonic()
            # Any later event folds a closed view again against its ledger: its cells can go.
            session.fold.buckets.clear()
            session.fold.samples.clear()
            session.emitted.clear()
            session.emitted_samples.clear()
            session.refold = True
            if self.registry is not None and session.registered_open:
                self.registry.closed(view_id, partition)
            session.registered_open = False
            return
        _prune(session)
        if self.registry is not None and not session.registered_open:
            self.registry.opened(view_id, partition, session.last_received_ms)
            session.registered_open = True


def _prune(session: ViewSession) -> None:
    """Forgets cells an in-order event can no longer change: before the newest event's minute."""
    fold = session.fold
    if fold.last_ts is None:
        return
    current = fold.minute_of(fold.last_ts)
    for cells in (fold.buckets, fold.samples, session.emitted, session.emitted_samples):
        for key in [k for k in cells if k[0] < current and k not in session.fact_keys]:
            del cells[key]


def _remember(cells: dict[Key, Any], key: Key, value: list[Any] | None) -> None:
    if value is None:
        cells.pop(key, None)
    else:
        cells[key] = list(value)


def _scores(sessions: list[ViewSession], outcomes: list[Outcome], records: list[dict[str, Any]]) -> dict[str, float]:
    """Scores every scorable view of the flush in one vectorised call; fills the records' score fields."""
    inputs, owners = [], []
    for session, out, record in zip(sessions, outcomes, records, strict=True):
        record.update({column: None for _, column in _SCORE_FIELDS}, score_basis="")
        scored = qoe_input(session.fold, out)
        if scored is not None:
            inputs.append(scored)
            owners.append(record)
    if not inputs:
        return {}
    frame = score_sessions(pd.DataFrame(inputs))
    totals: dict[str, float] = {}
    for record, row in zip(owners, frame.itertuples(index=False), strict=True):
        for source, column in _SCORE_FIELDS:
            value = getattr(row, source)
            record[column] = None if pd.isna(value) else float(value)
        record["score_basis"] = row.quality_basis if isinstance(row.quality_basis, str) else ""
        totals[record["view_id"]] = float(record["qoe_score"])
    return totals


_TIMESTAMPS = ("first_seen_at", "last_received_at", "requested_at", "started_at", "ended_at", "last_event_at")


def _views_row(record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    for name in _TIMESTAMPS:
        if row[name] is not None:
            row[name] = row[name] / 1000  # DateTime64 in JSON: seconds
    return row


def _dims_row(session: ViewSession) -> dict[str, Any]:
    d = session.meta.dims
    return {
        "view_id": session.meta.view_id,
        "property": d.property,
        "country": d.country,
        "region": d.region,
        "asn": d.asn,
        "device_type": d.device_type,
        "os": d.os,
        "browser": d.browser,
        "player_name": d.player_name,
        "player_version": d.player_version,
        "title_id": d.title_id,
        "stream_type": d.stream_type,
        "sdk_name": d.sdk_name,
        "sdk_version": d.sdk_version,
    }


def _delta_row(
    base: dict[str, Any],
    key: Key,
    version: int,
    change: list[float] | None,
    samples: list[int] | None,
    vst_ms: float | None,
) -> dict[str, Any]:
    row = {**base, "minute": key[0] * 60, "cdn": key[1], "version": version}
    if change is not None:
        row.update((name, value) for name, value in zip(COLUMNS, change, strict=True) if value)
    if samples is not None:
        row["active_samples"] = samples
    if vst_ms is not None:
        row["vst_ms"] = vst_ms
        row["vst_samples"] = 1
    return row
