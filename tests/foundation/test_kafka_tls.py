"""Every Kafka client of the platform over mutual TLS, end to end: the topic admin, ingest's producer,
the worker's Faust producer and the gateway's score feed, each built from the settings as in
production, against the real broker behind a TLS listener (see tests/foundation/tls.py for why
the listener is not Tansu's own)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from delivery.gateway import KafkaDecisionLog, ScoreFeed, mount_delivery
from foundation.broker import free_port, tansu_binary, wait_for_port
from foundation.kafka_security import kafka_python_options
from foundation.settings import Settings
from foundation.topics import TopicSpec, cluster_id, ensure_topics
from ingest.producer import KafkaRecordSink
from streams.app import faust_app
from tests.foundation.tls import TlsFiles, TlsTerminator

pytestmark = pytest.mark.integration

BEACONS, SCORES = "tls-beacons", "tls-scores"


@pytest.fixture
def tls_kafka(tls_files: TlsFiles, tmp_path: Path) -> Iterator[tuple[str, TlsTerminator]]:
    """A Tansu broker reachable only through a TLS listener on localhost; yields its bootstrap."""
    broker_port, tls_port = free_port(), free_port()
    command = [str(tansu_binary()), "broker", "--cluster-id", f"qoe-tls-{uuid.uuid4().hex[:8]}"]
    command += ["--listener-url", f"tcp://127.0.0.1:{broker_port}", "--storage-engine", "memory://tansu/"]
    command += ["--advertised-listener-url", f"tcp://localhost:{tls_port}"]  # clients come back through TLS
    with (tmp_path / "tansu.log").open("wb") as log:
        broker = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        wait_for_port("127.0.0.1", broker_port, 15)
        with TlsTerminator(("127.0.0.1", broker_port), tls_port, tls_files) as listener:
            yield f"localhost:{tls_port}", listener
    finally:
        broker.terminate()
        broker.wait(5)


def mutual_tls(tls: TlsFiles, **values: Any) -> Settings:
    files = {
        "kafka_ssl_cafile": str(tls.ca_cert),
        "kafka_ssl_certfile": str(tls.client_cert),
        "kafka_ssl_keyfile": str(tls.client_key),
    }
    return Settings(_env_file=None, kafka_security_protocol="SSL", **{**files, **values})


def test_every_client_speaks_mutual_tls(tls_kafka: tuple[str, TlsTerminator], tls_files: TlsFiles) -> None:
    bootstrap, listener = tls_kafka
    settings = mutual_tls(tls_files)

    # The topic admin (kafka-python), as the worker runs it at start.
    security = kafka_python_options(settings)
    assert ensure_topics(bootstrap, [TopicSpec(BEACONS, 1), TopicSpec(SCORES, 1)], security=security) == [
        BEACONS,
        SCORES,
    ]
    assert cluster_id(bootstrap, security=security).startswith("qoe-tls-")

    # Ingest's producer (kafka-python): acknowledged by the broker.
    sink = KafkaRecordSink(settings, bootstrap)
    try:
        asyncio.run(sink.send(BEACONS, b"view-1", b'{"events": []}'))
    finally:
        sink.close()

    # The worker's Faust app (aiokafka underneath): its producer publishes a record.
    async def faust_publishes() -> int:
        app = faust_app(settings, bootstrap, "qoe-tls-check")
        await app.producer.start()
        try:
            metadata = await app.producer.send_and_wait(SCORES, b"cdn-a|eu", b"not a score", None, None, None)
            return int(metadata.offset)
        finally:
            await app.producer.stop()

    assert asyncio.run(faust_publishes()) == 0

    # The gateway's score feed (aiokafka), wired by mount_delivery from the same settings, reads it back.
    app = FastAPI()
    mount_delivery(app, settings.model_copy(update={"topic_cdn_scores": SCORES}), bootstrap)
    feed: ScoreFeed = app.state.steering_feed

    async def feed_reads() -> int:
        stop = asyncio.Event()
        running = asyncio.create_task(feed.run(stop))
        for _ in range(150):
            if feed.records:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await running
        return feed.records

    assert asyncio.run(feed_reads()) == 1
    assert feed.board.rejected == 1 and feed.errors == 0  # the record came through intact (and is no score)
    assert listener.handshakes > 0 and listener.refused == 0


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"kafka_security_protocol": "PLAINTEXT"}, id="plain text"),
        pytest.param({"kafka_ssl_certfile": "", "kafka_ssl_keyfile": ""}, id="no client certificate"),
        pytest.param({"kafka_ssl_cafile": ""}, id="broker certificate not trusted"),
    ],
)
def test_a_client_without_the_tls_settings_is_refused(
    tls_kafka: tuple[str, TlsTerminator], tls_files: TlsFiles, values: dict[str, Any]
) -> None:
    bootstrap, listener = tls_kafka
    if values.get("kafka_security_protocol") == "PLAINTEXT":
        settings = Settings(_env_file=None)
    else:
        settings = mutual_tls(tls_files, **values)
    with pytest.raises(Exception, match=r"NoBrokersAvailable|Unable to bootstrap"):
        KafkaDecisionLog(bootstrap, SCORES, bootstrap_timeout_ms=2000, security=kafka_python_options(settings))
    assert listener.handshakes == 0 and listener.refused > 0
