"""The Kafka sink never blocks the event loop: a stuck send leaves the gateway answering others."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from foundation.settings import Settings
from ingest.app import create_app
from ingest.producer import KafkaRecordSink
from tests.factories.beacons import beacon


class SentRecord:
    """kafka-python's FutureRecordMetadata, already acknowledged."""

    def add_callback(self, callback: Callable[[Any], None]) -> None:
        callback(None)

    def add_errback(self, errback: Callable[[Any], None]) -> None:
        pass


class Metadata:
    def __init__(self) -> None:
        self.known: set[str] = set()

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0} if topic in self.known else None


class StuckProducer:
    """A KafkaProducer whose send blocks, as kafka-python's does while it waits for a topic's
    metadata, until the test releases it (at most 5 s, so a blocked loop fails the test, not hangs it)."""

    def __init__(self) -> None:
        self._metadata = Metadata()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()
        self.sent: list[str] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> SentRecord:
        if topic not in self._metadata.known:
            self.entered.set()
            self.release.wait(5)
            self._metadata.known.add(topic)
        self.sent.append(topic)
        self.returned.set()
        return SentRecord()

    def close(self, timeout: float = 0) -> None:
        pass


@pytest.fixture
def broker_port() -> Iterator[int]:
    """A port that accepts connections, so the reachability probe finds 'Kafka'."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


async def _until(flag: threading.Event) -> None:
    for _ in range(5000):
        if flag.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


async def test_a_send_stuck_on_metadata_leaves_the_loop_serving(broker_port: int) -> None:
    producer = StuckProducer()
    sink = KafkaRecordSink(Settings(_env_file=None), f"127.0.0.1:{broker_port}", producer=producer)
    app = create_app(Settings(_env_file=None), sink)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        posted = asyncio.create_task(client.post("/v1/beacons", json=beacon()))
        await _until(producer.entered)
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert not producer.returned.is_set(), "/healthz was answered only after the stuck send returned"
        producer.release.set()
        assert (await posted).status_code == 202
    sink.close()


async def test_once_the_topic_is_known_sends_run_inline(broker_port: int) -> None:
    producer = StuckProducer()
    producer._metadata.known.add("beacons")
    sink = KafkaRecordSink(Settings(_env_file=None), f"127.0.0.1:{broker_port}", producer=producer)
    calling_thread: list[int] = []
    original = producer.send

    def send(topic: str, key: bytes | None = None, value: bytes | None = None) -> SentRecord:
        calling_thread.append(threading.get_ident())
        return original(topic, key, value)

    producer.send = send  # type: ignore[method-assign]
    await sink.send("beacons", b"view", b"{}")
    assert calling_thread == [threading.get_ident()]  # no thread hop, no added cost per request
    sink.close()


async def test_kafka_away_is_found_by_the_probe_thread(broker_port: int) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    sink = KafkaRecordSink(
        Settings(_env_file=None), f"127.0.0.1:{closed_port}", probe_interval_s=0.05, producer=StuckProducer()
    )
    for _ in range(200):
        if not sink.healthy():
            break
        await asyncio.sleep(0.01)
    assert not sink.healthy()
    sink.close()
