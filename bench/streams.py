"""Sink benchmark: events/s from the beacons topic into ClickHouse by the raw-sink agent, against a raw
aiokafka consume loop that reads and parses the same records and writes nothing.

All read the same pre-filled topic on the embedded broker. Each rate is taken between 10% and 100%
of the records, so start-up (consumer group join, Faust boot) counts for none. Two ceilings from the
same topic say what bounds the sink: a Faust agent that only counts and acks, and the sink's insert
into embedded chDB with no Kafka and no Faust (``bench.stream_runner``). The deployed worker, with
every agent reading the same records, is reported too.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import orjson
from kafka import KafkaProducer

from bench.ingest import bench_body
from bench.report import BenchRow
from foundation.access import new_token
from foundation.broker import EmbeddedBroker, free_port
from foundation.process import spawn, wait_ready
from foundation.settings import Settings
from foundation.topics import ensure_topics, platform_topics

SECTION = "Sink: beacons topic → ClickHouse beacon_events"
RECORDS = 40_000
LOOP = "aiokafka loop: consume + JSON parse"  # what baseline_rate measures


def _record(i: int, now_ms: int) -> bytes:
    beacon = orjson.loads(bench_body())
    beacon["view_id"] = f"bench-{i}"
    server = {"received_at": now_ms, "country": "NO", "device_type": "desktop", "os": "Linux", "browser": "Chrome"}
    return orjson.dumps({"server": server, "beacon": beacon})


def fill_topic(bootstrap: str, topic: str, records: int) -> int:
    """Writes ``records`` beacon records; returns the events they hold."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=1_048_576)
    now_ms = int(time.time() * 1000)
    events = 0
    for i in range(records):
        value = _record(i, now_ms)
        events += value.count(b'"seq":')
        producer.send(topic, key=f"bench-{i}".encode(), value=value)
    producer.flush()
    producer.close()
    return events


def rate_between(samples: list[tuple[float, int]], total: int) -> float:
    """Events/s between the first sample at ≥10% of ``total`` and the first at 100%."""
    start = next((t, n) for t, n in samples if n >= total * 0.1)
    end = next((t, n) for t, n in samples if n >= total)
    return (end[1] - start[1]) / max(end[0] - start[0], 1e-6)


def baseline_rate(bootstrap: str, topic: str, total_events: int) -> float:
    from aiokafka import AIOKafkaConsumer

    async def consume() -> list[tuple[float, int]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id="bench-raw-loop", auto_offset_reset="earliest"
        )
        await consumer.start()
        samples: list[tuple[float, int]] = []
        events = 0
        try:
            while events < total_events:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                for messages in batches.values():
                    for message in messages:
                        events += len(orjson.loads(message.value)["beacon"]["events"])
                samples.append((time.monotonic(), events))
        finally:
            await consumer.stop()
        return samples

    return rate_between(asyncio.run(consume()), total_events)


def deployed_sink_rate(bootstrap: str, total_events: int, data_dir: Path) -> float:
    internal_port = free_port()
    token = new_token()  # the worker's API registers it; the summary needs a token
    env = {
        **os.environ,
        "QOE_KAFKA_BOOTSTRAP": bootstrap,
        "QOE_DATA_DIR": str(data_dir),
        "QOE_INTERNAL_API_PORT": str(internal_port),
        "QOE_ADMIN_TOKEN": str(token),
    }
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    worker = spawn("bench-worker", ["worker", "--api"], env, logs)
    url = f"http://127.0.0.1:{internal_port}"
    samples: list[tuple[float, int]] = []
    try:
        wait_ready([f"{url}/healthz"], [worker], 90)
        with httpx.Client(base_url=url, headers=token.bearer, timeout=10) as client:
            deadline = time.monotonic() + 300
            while not samples or samples[-1][1] < total_events:
                rows = int(client.get("/v1/events/summary").json()["rows"])
                samples.append((time.monotonic(), rows))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sink wrote {rows} of {total_events} events in 300 s")
                time.sleep(0.1)
    finally:
        worker.stop()
    return rate_between(samples, total_events)


def run(settings: Settings) -> list[BenchRow]:
    import tempfile

    from bench.stream_runner import child_rate, faust_ceiling_row

    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        ensure_topics(broker.bootstrap, platform_topics(settings))
        total = fill_topic(broker.bootstrap, settings.topic_beacons, RECORDS)
        base = baseline_rate(broker.bootstrap, settings.topic_beacons, total)
        ours = child_rate("sink", broker.bootstrap, total, Path(tmp))
        count_only = child_rate("count-only", broker.bootstrap, total, Path(tmp))
        warehouse = child_rate("warehouse", broker.bootstrap, total, Path(tmp))
        deployed = deployed_sink_rate(broker.bootstrap, total, Path(tmp) / "worker")
    note = f"{RECORDS:,} records of 20 events; embedded chDB; rate between 10% and 100% of the events"
    return [
        BenchRow(
            SECTION,
            "events/s written (raw-sink agent alone)",
            ours,
            "events/s",
            base,
            LOOP,
            "≥ 0.5× baseline",
            ours >= 0.5 * base,
            note,
        ),
        faust_ceiling_row(SECTION, count_only, base),
        BenchRow(
            SECTION,
            "events/s: the sink's insert alone, records already in memory",
            warehouse,
            "events/s",
            base,
            LOOP,
            "reported",
            None,
            "RawEventSink.write into embedded chDB in the sink's largest batches, no Kafka and no Faust: "
            "the ceiling of any sink into this warehouse engine here",
        ),
        BenchRow(
            SECTION,
            "events/s written (deployed worker)",
            deployed,
            "events/s",
            base,
            LOOP,
            "reported",
            None,
            "qoe worker --api: the raw sink, sessionizer and CDN-score agents read every record in one process",
        ),
    ]
