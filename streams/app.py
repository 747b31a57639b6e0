"""The Faust application: built by the entrypoint from settings, never at import time.

One Kafka record holds one beacon (a batch of events), so Faust's per-message cost is paid per
beacon, not per event (REFERENCE §8).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from clickhouse_connect.driver.client import Client

from foundation.kafka_security import faust_options
from foundation.settings import Settings
from streams.failures import RetryPolicy, dead_letter, until_done
from streams.sink import RawEventSink, SourceRecord

log = logging.getLogger(__name__)

TICK_S = 0.1
TAKE_RECORDS = 2000


@dataclass
class StreamsContext:
    """What the agents share: settings, the warehouse, and the Kafka source id of the beacon log."""

    settings: Settings
    warehouse: Callable[[], Client]
    source: str


def faust_app(settings: Settings, bootstrap: str, app_id: str) -> faust.App:
    """A Faust app with the platform's consumer settings and no agent yet."""
    return faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
        broker_commit_interval=1.0,
        # Faust's 1 MiB / unbounded defaults starve a worker of kilobyte-sized beacon records.
        consumer_max_fetch_size=settings.consumer_max_fetch_bytes,
        broker_max_poll_records=settings.consumer_max_poll_records,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        **faust_options(settings),
    )


class BatchFlusher:
    """Buffers records, then writes and acks them, adapting the batch to the load.

    A batch goes out when it holds ``batch_rows`` events and no insert is running (low latency when
    quiet), when it holds ``max_batch_rows`` (bounded memory under load), or when its oldest record is
    ``max_age_s`` old. Under load batches therefore grow while inserts run, and ClickHouse gets fewer,
    larger inserts, as it prefers.

    Events are acked only after their rows are in the warehouse, so a crash replays them (and the
    sink's offset ledger keeps the replay from writing twice). Up to ``max_in_flight`` inserts run
    at once on worker threads, so the stream keeps consuming while ClickHouse writes. An insert that
    fails for the warehouse's sake is retried until it passes; records refused as bad data go to
    ``on_bad`` (the dead-letter topic) and are acked with the rest, so none blocks its partition.
    """

    def __init__(
        self,
        sink: RawEventSink,
        batch_rows: int,
        max_batch_rows: int,
        max_age_s: float,
        on_bad: Callable[[SourceRecord, str], Awaitable[None]],
        max_in_flight: int = 2,
    ) -> None:
        self.sink = sink
        self.batch_rows = batch_rows
        self.max_batch_rows = max_batch_rows
        self.max_age_s = max_age_s
        self.on_bad = on_bad
        self.stream: Any = None
        self._events: list[Any] = []
        self._records: list[SourceRecord] = []
        self._rows = 0
        self._since = 0.0
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[asyncio.Task[None]] = set()

    def _due(self) -> bool:
        if self._rows >= self.max_batch_rows or (self._rows >= self.batch_rows and not self._in_flight):
            return True
        return bool(self._events) and time.monotonic() - self._since >= self.max_age_s

    async def add(self, events: list[Any]) -> None:
        if not self._events:
            self._since = time.monotonic()
        for event in events:
            # A record without a value (a tombstone) is no beacon: it is dead-lettered like one.
            record = SourceRecord(event.message.partition, event.message.offset, event.value or b"")
            self._events.append(event)
            self._records.append(record)
            self._rows += record.events
        if self._due():
            await self._dispatch()

    async def flush_if_due(self) -> None:
        if self._due():
            await self._dispatch()

    async def flush(self) -> None:
        """Write everything buffered and wait for every insert in flight."""
        await self._dispatch()
        if self._in_flight:
            await asyncio.gather(*self._in_flight)

    async def _dispatch(self) -> None:
        if not self._events:
            return
        records, events = self._records, self._events
        self._records, self._events, self._rows = [], [], 0
        await self._slots.acquire()
        task = asyncio.create_task(self._write(records, events))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _write(self, records: list[SourceRecord], events: list[Any]) -> None:
        try:
            result = await until_done(functools.partial(self.sink.write, records), "raw sink: warehouse insert")
            for record, reason in result.bad:
                await self.on_bad(record, reason)
            for event in events:
                await self.stream.ack(event)
        finally:
            self._slots.release()


def add_raw_sink(app: faust.App, ctx: StreamsContext) -> RawEventSink:
    settings = ctx.settings
    beacons = app.topic(settings.topic_beacons, key_type=bytes, value_type=bytes, value_serializer="raw")
    dead_letters = app.topic(settings.topic_dead_letter, value_serializer="raw")
    sink = RawEventSink(ctx.warehouse(), ctx.source, RetryPolicy.from_settings(settings))

    async def to_dead_letter(record: SourceRecord, reason: str) -> None:
        source = f"sink:{settings.topic_beacons}/{record.partition}@{record.offset}"
        await dead_letters.send(value=dead_letter(source, reason, record.value))

    flusher = BatchFlusher(
        sink, settings.sink_batch_rows, settings.sink_max_batch_rows, settings.sink_max_age_s, to_dead_letter
    )

    @app.agent(beacons, name="raw-sink")
    async def raw_sink(stream: Any) -> None:
        flusher.stream = stream
        async for events in stream.noack_take(TAKE_RECORDS, within=TICK_S):
            await flusher.add(list(events))

    @app.task
    async def flush_old_rows() -> None:
        # A loop rather than app.timer: a flush may outlast the tick, and that is fine, not a warning.
        while True:
            await asyncio.sleep(TICK_S)
            if flusher.stream is not None:
                await flusher.flush_if_due()

    @app.on_partitions_revoked.connect
    async def before_losing_partitions(_app: faust.App, revoked: Any, **_: Any) -> None:
        if flusher.stream is not None:
            await flusher.flush()
        sink.forget_offsets()

    return sink
