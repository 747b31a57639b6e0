"""Kafka producer for ingest: a record counts as accepted only once Kafka acknowledged it.

kafka-python does the producing (acks=all, idempotent). Its futures complete on the producer's
I/O thread; we hand them to the event loop so a request awaits its own acknowledgement without
blocking others.

Nothing here blocks the event loop. ``KafkaProducer.send`` waits (up to ``max_block_ms``) only
while it has no metadata for the topic: at start, or while Kafka is away. Then, and only then,
the send runs on a worker thread; once the metadata is known, a send appends to the producer's
buffer and returns, so it runs inline, at no extra cost per request. The reachability probe, a
TCP connect that can wait its whole timeout, runs on its own thread; requests read its verdict.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from functools import partial
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from foundation.kafka_security import kafka_python_options
from foundation.settings import Settings


class BrokerUnavailableError(Exception):
    """Kafka did not acknowledge in time, or is known to be unreachable."""


class RecordSink(Protocol):
    """Where ingest writes records: Kafka in production, a list in unit tests."""

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


def _bootstrap_hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        hosts.append((host or "localhost", int(port or 9092)))
    return hosts


class KafkaRecordSink:
    """kafka-python producer with a reachability probe that fails requests fast during outages."""

    def __init__(
        self, settings: Settings, bootstrap: str, probe_interval_s: float = 1.0, *, producer: Any = None
    ) -> None:
        """``producer``: a stand-in for the KafkaProducer, for tests."""
        self._ack_timeout_s = settings.kafka_ack_timeout_s
        self._producer = producer if producer is not None else _producer(settings, bootstrap)
        self._completions = Completions()
        self._reachability = Reachability(_bootstrap_hosts(bootstrap), probe_interval_s)

    def healthy(self) -> bool:
        return self._reachability.reachable

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if not self._reachability.reachable:
            raise BrokerUnavailableError("Kafka is unreachable")
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()
        try:
            future = await self._append(loop, topic, key, value)
        except KafkaError as exc:
            self._reachability.lost()
            raise BrokerUnavailableError(str(exc)) from exc
        self._completions.watch(loop, future, acked)
        # The producer fails the record after its delivery timeout; this guard only covers a stuck client.
        guard = loop.call_later(self._ack_timeout_s + 1, _resolve, acked, TimeoutError("no acknowledgement"))
        try:
            await acked
        except (TimeoutError, KafkaError) as exc:
            self._reachability.recheck()
            raise BrokerUnavailableError(f"Kafka did not acknowledge: {exc!r}") from exc
        finally:
            guard.cancel()

    async def _append(self, loop: asyncio.AbstractEventLoop, topic: str, key: bytes | None, value: bytes) -> Any:
        # kafka-python's send blocks only while the topic's metadata is unknown (its _wait_on_metadata).
        if self._producer._metadata.partitions_for_topic(topic) is not None:
            return self._producer.send(topic, key=key, value=value)
        return await loop.run_in_executor(None, partial(self._producer.send, topic, key=key, value=value))

    def close(self) -> None:
        self._reachability.stop()
        self._producer.close(timeout=2)


def _producer(settings: Settings, bootstrap: str) -> KafkaProducer:
    request_timeout_ms = int(settings.kafka_ack_timeout_s * 1000)
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="qoe-ingest",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        # Beacons are kilobytes: the 16 KiB default would cap a partition at a handful per round trip.
        batch_size=settings.kafka_batch_bytes,
        max_block_ms=1000,
        request_timeout_ms=request_timeout_ms,
        # Expire undelivered records once the client was told 503, so a retry is the only copy we send.
        delivery_timeout_ms=request_timeout_ms + settings.kafka_linger_ms + 10,
        max_request_size=max(1_048_576, settings.max_body_bytes * 2),
        **kafka_python_options(settings),
    )


class Completions:
    """Hands acknowledgements from the producer's I/O thread to the event loop in bursts.

    One ``call_soon_threadsafe`` (a pipe write that wakes the loop) per burst, not per record.
    """

    def __init__(self) -> None:
        self._done: deque[tuple[asyncio.Future[None], Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def watch(self, loop: asyncio.AbstractEventLoop, future: Any, acked: asyncio.Future[None]) -> None:
        future.add_callback(lambda _meta: self._complete(loop, acked, None))
        future.add_errback(lambda exc: self._complete(loop, acked, exc))

    def _complete(self, loop: asyncio.AbstractEventLoop, acked: asyncio.Future[None], exc: Any) -> None:
        with self._lock:
            self._done.append((acked, exc))
            if self._scheduled:
                return
            self._scheduled = True
        loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            done, self._done = self._done, deque()
            self._scheduled = False
        for acked, exc in done:
            _resolve(acked, exc)


def _resolve(future: asyncio.Future[None], exc: Any) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc if isinstance(exc, BaseException) else KafkaError(str(exc)))


class Reachability:
    """Whether any bootstrap host accepts a TCP connection, probed every ``interval_s`` on a thread
    of its own: a connect to a host that is away waits out its timeout, never on the event loop."""

    def __init__(self, hosts: list[tuple[str, int]], interval_s: float) -> None:
        self.reachable = True
        self._hosts = hosts
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stopped = False
        threading.Thread(target=self._run, name="kafka-reachability", daemon=True).start()

    def lost(self) -> None:
        """The producer failed: unreachable until a probe finds a host again."""
        self.reachable = False
        self.recheck()

    def recheck(self) -> None:
        """Probe now rather than at the next interval (an acknowledgement failed)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()  # before the probe: a recheck asked during it probes again at once
            self.reachable = any(_can_connect(host, port) for host, port in self._hosts)
            self._wake.wait(self._interval_s)


def _can_connect(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


class MemoryRecordSink:
    """A fake sink for unit tests: keeps records, can be switched off to act as an outage."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.available = True

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if not self.available:
            raise BrokerUnavailableError("memory sink switched off")
        self.records.append((topic, key, value))

    def healthy(self) -> bool:
        return self.available

    def close(self) -> None:
        self.available = False
