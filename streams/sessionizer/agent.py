"""The sessionizer in the Faust worker: an agent that folds, a task that flushes, a registry table.

The agent folds each beacon record as it comes (one record is one beacon, REFERENCE §8) and
leaves its acknowledgement pending. A separate task flushes at least every
``flush_interval_s``: the warehouse reads and writes run on a worker thread, and the records
folded before the flush began are acknowledged once its rows are stored.

Nothing blocks a partition for good: a record the sessionizer cannot read, and the rows of a view
the warehouse refuses as bad data (``streams.failures``), go to the dead-letter topic, and their
records are acknowledged with the others. Only transient failures are retried until they pass.

The ``sessionizer-open-views`` table lists the views this worker holds open, so a restarted
worker resumes their inactivity timeouts at once. It is a hint, not the state: Tansu's changelog
recovery can miss the last update (REFERENCE §8), so the worker also lists open views from the
warehouse, and every view is rebuilt from the warehouse before anything is written for it
(``streams.sessionizer.core``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import faust
from kafka.partitioner.default import murmur2

from foundation.topics import REGISTRY_TABLE
from streams.failures import Refused, RetryPolicy, as_text, dead_letter, until_done
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.core import FlushPlan, Loaded, Sessionizer
from streams.sessionizer.store import ViewRows, ViewStore

if TYPE_CHECKING:  # streams.app imports this module
    from streams.app import StreamsContext

log = logging.getLogger(__name__)

TICK_S = 0.1
TAKE = 500  # records per agent step; folding is per record, so this only bounds the step
REGISTRY_WRITES_PER_TICK = 20  # table updates a tick may queue in Faust's producer (which holds 100)


def partition_of(view_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by this view id."""
    return int(murmur2(view_id.encode()) & 0x7FFFFFFF) % partitions


class TableRegistry:
    """Open views in a Faust table: key = view id (raw bytes, so it partitions like the beacons).

    Updates are queued and written a few at a time (``drain``): a burst of table writes would fill
    Faust's producer buffer, and Faust then stalls every agent of the worker while it empties. The
    table is only a hint for a restarted worker, so a late entry costs nothing; a view that opens
    and closes between two drains is never written at all.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[bytes, dict[str, int] | None] = {}  # None: delete
        self.written: set[bytes] = set()

    def opened(self, view_id: str, partition: int, last_received_ms: int) -> None:
        self.pending[view_id.encode()] = {"partition": partition, "last_received_ms": last_received_ms}

    def closed(self, view_id: str, partition: int) -> None:
        key = view_id.encode()
        if key in self.written:
            self.pending[key] = None
        else:
            self.pending.pop(key, None)

    def evicted(self, view_id: str, partition: int) -> None:
        """Closed views already left the table."""

    def drain(self, budget: int) -> int:
        """Writes at most ``budget`` queued updates; returns how many."""
        keys = list(itertools.islice(self.pending, budget))
        for key in keys:
            value = self.pending.pop(key)
            if value is None:
                if key in self.table:
                    del self.table[key]
                self.written.discard(key)
            else:
                self.table[key] = value
                self.written.add(key)
        return len(keys)

    def open_views(self, partitions: set[int], count: int) -> list[tuple[str, int, int]]:
        found = []
        for key, value in list(self.table.items()):
            view_id = key.decode() if isinstance(key, bytes) else str(key)
            partition = partition_of(view_id, count)
            if partition in partitions and isinstance(value, dict):
                found.append((view_id, partition, int(value.get("last_received_ms", 0))))
        return found


class FlushRunner:
    """Flushes the sessionizer and acknowledges the records each flush covered."""

    def __init__(
        self,
        sessionizer: Sessionizer,
        interval_s: float,
        on_refused: Callable[[Refused[ViewRows]], Awaitable[None]],
    ) -> None:
        self.sessionizer = sessionizer
        self.interval_s = interval_s
        self.on_refused = on_refused
        self.stream: Any = None
        self.pending: list[Any] = []
        self._pending_since: float | None = None
        self._lock = asyncio.Lock()

    def received(self, events: list[Any]) -> None:
        if events and not self.pending:
            self._pending_since = time.monotonic()
        self.pending.extend(events)

    def due(self) -> bool:
        if self.sessionizer.due():
            return True
        return self._pending_since is not None and time.monotonic() - self._pending_since >= self.interval_s

    async def flush(self) -> None:
        async with self._lock:
            acks, self.pending, self._pending_since = self.pending, [], None
            sessionizer = self.sessionizer
            plan: FlushPlan = sessionizer.plan()
            loaded: Loaded = await until_done(lambda: sessionizer.load(plan), "sessionizer: warehouse read")
            writes = sessionizer.apply(plan, loaded)
            refused = await until_done(lambda: sessionizer.write(writes), "sessionizer: warehouse write")
            sessionizer.refused(refused)
            for bad in refused:
                await self.on_refused(bad)
            for event in acks:
                await self.stream.ack(event)
            sessionizer.evict()

    async def flush_all(self) -> None:
        """Until nothing is left to write (before giving partitions away)."""
        for _ in range(5):
            await self.flush()
            if not any(s.changed for s in self.sessionizer.sessions.values()):
                return


def add_sessionizer(app: faust.App, ctx: StreamsContext) -> Sessionizer:
    settings = ctx.settings
    config = SessionizerConfig.from_settings(settings)
    beacons = app.topic(settings.topic_beacons, key_type=bytes, value_type=bytes, value_serializer="raw")
    dead_letters = app.topic(settings.topic_dead_letter, value_serializer="raw")
    table = app.Table(
        REGISTRY_TABLE,
        default=None,
        partitions=settings.topic_partitions,
        use_partitioner=True,
        key_type=bytes,  # raw view id bytes: the changelog partitions like the beacons topic
    )
    registry = TableRegistry(table)
    store = ViewStore(ctx.warehouse(), RetryPolicy.from_settings(settings))
    sessionizer = Sessionizer(store, config, registry)

    async def view_to_dead_letter(bad: Refused[ViewRows]) -> None:
        body = as_text({"view": bad.item.view, "deltas": bad.item.deltas})
        await dead_letters.send(value=dead_letter(f"sessionizer:views/{bad.item.view_id}", bad.reason, body))

    runner = FlushRunner(sessionizer, config.flush_interval_s, view_to_dead_letter)
    resume: set[int] = set()

    @app.agent(beacons, name="sessionizer")
    async def sessionize(stream: Any) -> None:
        runner.stream = stream
        async for events in stream.noack_take(TAKE, within=TICK_S):
            for event in events:
                message = event.message
                value = event.value or b""  # a record without a value (a tombstone) is no beacon
                refusal = sessionizer.fold_record(value, message.partition)
                if refusal is not None:
                    source = f"sessionizer:{settings.topic_beacons}/{message.partition}@{message.offset}"
                    await dead_letters.send(value=dead_letter(source, refusal, value))
            runner.received(list(events))

    async def resume_open_views(partitions: set[int]) -> None:
        count = app.consumer.topic_partitions(settings.topic_beacons) or settings.topic_partitions
        since_ms = int((time.time() - config.inactivity_timeout_s) * 1000)
        stored = await until_done(lambda: store.open_views(since_ms), "sessionizer: open views read")
        views = registry.open_views(partitions, count)
        views += [(v, p, received) for v, received in stored if (p := partition_of(v, count)) in partitions]
        added = sessionizer.resume(views)
        log.info("sessionizer: resumed %d open views on partitions %s", added, sorted(partitions))

    @app.task
    async def flush_views() -> None:
        # A loop rather than app.timer: a flush may outlast the tick, and that is fine, not a warning.
        while True:
            await asyncio.sleep(TICK_S)
            if resume and app.tables.recovery.completed.is_set():
                partitions = set(resume)
                resume.clear()
                await resume_open_views(partitions)
            if runner.stream is not None and runner.due():
                await runner.flush()
            registry.drain(REGISTRY_WRITES_PER_TICK)

    @app.on_partitions_assigned.connect
    async def on_assigned(_app: faust.App, assigned: Any, **_: Any) -> None:
        resume.update(tp.partition for tp in assigned if tp.topic == settings.topic_beacons)

    @app.on_partitions_revoked.connect
    async def on_revoked(_app: faust.App, revoked: Any, **_: Any) -> None:
        if runner.stream is not None:
            await runner.flush_all()
        sessionizer.forget({tp.partition for tp in revoked if tp.topic == settings.topic_beacons})

    return sessionizer
