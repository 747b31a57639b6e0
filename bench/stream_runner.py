"""Children for the stream benchmarks: each measures one consumer of a pre-filled beacons topic.

Every mode runs in its own process (Faust owns its process, and only one process may open a chDB
directory) and writes its events/s, taken between 10% and 100% of ``total_events``, to a file:

- ``count-only``: a Faust agent that only counts and acknowledges records, the ceiling of any Faust
  agent with the platform's consumer settings;
- ``sink``: the raw-event sink agent alone (``streams.app.add_raw_sink``) into embedded chDB;
- ``sessionizer``: the sessionizer agent alone (``add_sessionizer``) into embedded chDB;
- ``warehouse``: no Kafka and no Faust in the timed part: the records are read first, then handed
  to the sink's insert (``RawEventSink.write``) in the sink's largest batches, the ceiling of
  any sink into embedded chDB.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.report import BenchRow
from bench.streams import LOOP, rate_between
from foundation.settings import Settings

MODES = ("count-only", "sink", "sessionizer", "warehouse")


def faust_ceiling_row(section: str, count_only: float, loop: float) -> BenchRow:
    """The ``count-only`` figure beside the aiokafka loop: what no Faust agent here can exceed."""
    return BenchRow(
        section,
        "events/s: a Faust agent that only counts and acks",
        count_only,
        "events/s",
        loop,
        LOOP,
        "reported",
        None,
        "the same records through Faust with nothing done: the ceiling of any Faust agent here",
    )


def child_rate(mode: str, bootstrap: str, total_events: int, data_dir: Path) -> float:
    """Runs one mode in a child process and reads its figure."""
    out = data_dir / f"{mode}.json"
    env = {**os.environ, "QOE_KAFKA_BOOTSTRAP": bootstrap, "QOE_DATA_DIR": str(data_dir / mode)}
    log_path = data_dir / f"{mode}.log"
    command = [sys.executable, "-m", "bench.stream_runner", mode, bootstrap, str(total_events), str(out)]
    with log_path.open("wb") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600, check=False)
    if not out.exists():
        raise RuntimeError(f"the {mode} run wrote no figure; see {log_path}")
    return float(orjson.loads(out.read_bytes())["rate"])


def _migrated(settings: Settings) -> Any:
    from warehouse.client import connect
    from warehouse.migrations import migrate

    client = connect(settings)
    migrate(client, settings)
    return client


def _faust_agent(mode: str, settings: Settings, bootstrap: str, total_events: int, out: Path) -> None:
    import faust

    from streams.app import StreamsContext, add_raw_sink, faust_app
    from streams.sessionizer.agent import add_sessionizer

    app = faust_app(settings, bootstrap, f"bench-{mode}")
    progress: Callable[[], int]
    if mode == "count-only":
        progress = _add_counter(app, settings)
    else:
        client = _migrated(settings)
        ctx = StreamsContext(settings, lambda: client, f"bench/{mode}")
        if mode == "sink":
            sink = add_raw_sink(app, ctx)
            progress = lambda: sink.events_written  # noqa: E731
        else:
            from foundation.topics import TopicSpec, ensure_topics, registry_topic

            ensure_topics(bootstrap, [TopicSpec(registry_topic(f"bench-{mode}"), settings.topic_partitions)])
            sessionizer = add_sessionizer(app, ctx)
            progress = lambda: sessionizer.stats.events_written  # noqa: E731
    samples: list[tuple[float, int]] = []

    @app.task
    async def sample() -> None:
        while True:
            samples.append((time.monotonic(), progress()))
            if samples[-1][1] >= total_events:
                await asyncio.to_thread(out.write_bytes, orjson.dumps({"rate": rate_between(samples, total_events)}))
                os._exit(0)  # the figure is written; no need for a graceful Faust shutdown
            await asyncio.sleep(0.05)

    faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()


def _add_counter(app: Any, settings: Settings) -> Callable[[], int]:
    seen = [0]
    beacons = app.topic(settings.topic_beacons, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(beacons, name="count-only")
    async def count_only(stream: Any) -> None:
        async for events in stream.noack_take(500, within=0.1):
            for event in events:
                seen[0] += event.value.count(b'"seq":')
                await stream.ack(event)

    return lambda: seen[0]


def _warehouse_only(settings: Settings, bootstrap: str, total_events: int, out: Path) -> None:
    from streams.sink import RawEventSink, SourceRecord

    records = asyncio.run(_read_all(bootstrap, settings.topic_beacons, total_events))
    sink = RawEventSink(_migrated(settings), "bench/warehouse")
    batch: list[SourceRecord] = []
    rows = 0
    samples = [(time.monotonic(), 0)]
    for record in records:
        batch.append(record)
        rows += record.events
        if rows >= settings.sink_max_batch_rows:
            sink.write(batch)
            batch, rows = [], 0
            samples.append((time.monotonic(), sink.events_written))
    sink.write(batch)
    samples.append((time.monotonic(), sink.events_written))
    out.write_bytes(orjson.dumps({"rate": rate_between(samples, total_events)}))


async def _read_all(bootstrap: str, topic: str, total_events: int) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    from streams.sink import SourceRecord

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[SourceRecord] = []
    events = 0
    try:
        while events < total_events:
            for messages in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for message in messages:
                    records.append(SourceRecord(message.partition, message.offset, message.value))
                    events += records[-1].events
    finally:
        await consumer.stop()
    return records


def main(mode: str, bootstrap: str, total_events: int, out: Path) -> None:
    settings = Settings()  # this child's entry point: settings from its environment
    if mode == "warehouse":
        _warehouse_only(settings, bootstrap, total_events, out)
    elif mode in MODES:
        _faust_agent(mode, settings, bootstrap, total_events, out)
    else:
        raise SystemExit(f"unknown mode {mode!r}; one of {', '.join(MODES)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
