"""What of a viewer ingest lets through: hashed viewer ids, page URLs without query, no IP address."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from foundation.settings import Settings
from foundation.stack import LocalStack
from ingest.app import BeaconFastPath, create_app
from ingest.producer import MemoryRecordSink
from schemas import BeaconRecord, DeadLetter
from schemas.privacy import pseudonymous_viewer_id
from tests.factories.beacons import beacon, event, playing_view_events
from tests.factories.cmcd import session_line
from tests.factories.waiting import wait_for

KEY = "a-viewer-id-key-for-tests-only"
OTHER_KEY = "another-viewer-id-key-for-tests"
RAW_VIEWER = "viewer-secret-42"
PAGE = "https://video.example/watch?v=bbb&token=s3cret#t=30"
LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


def _client(sink: MemoryRecordSink, fast_path: bool = False, **values: Any) -> TestClient:
    app = create_app(Settings(_env_file=None, **values), sink)
    return TestClient(BeaconFastPath(app) if fast_path else app, client=LOOPBACK)


def _values(sink: MemoryRecordSink, topic: str) -> list[bytes]:
    return [value for t, _, value in sink.records if t == topic]


def _stored_viewers(sink: MemoryRecordSink) -> list[str]:
    return [BeaconRecord.model_validate_json(v).beacon.viewer_id for v in _values(sink, "beacons")]


@pytest.mark.parametrize("fast_path", [False, True], ids=["fastapi", "fast-path"])
def test_viewer_ids_are_stored_as_their_hmac_and_never_as_sent(sink: MemoryRecordSink, fast_path: bool) -> None:
    with _client(sink, fast_path, viewer_id_hmac_key=KEY) as client:
        for _ in range(2):  # two views of one viewer
            assert (
                client.post("/v1/beacons", json=beacon(playing_view_events(4), viewer_id=RAW_VIEWER)).status_code == 202
            )
    hashed = pseudonymous_viewer_id(KEY.encode(), RAW_VIEWER)
    assert _stored_viewers(sink) == [hashed, hashed]
    assert not any(RAW_VIEWER.encode() in value for _, _, value in sink.records)


def test_another_key_gives_another_id_and_no_key_the_id_as_sent() -> None:
    stored = {}
    for key in (KEY, OTHER_KEY, None):
        sink = MemoryRecordSink()
        with _client(sink, viewer_id_hmac_key=key) as client:
            assert client.post("/v1/beacons", json=beacon(viewer_id=RAW_VIEWER)).status_code == 202
        [stored[key]] = _stored_viewers(sink)
    assert stored[KEY] != stored[OTHER_KEY]
    assert stored[None] == RAW_VIEWER


def test_a_short_key_stops_the_app(sink: MemoryRecordSink) -> None:
    with pytest.raises(ValueError, match="QOE_VIEWER_ID_HMAC_KEY must be at least 16 characters"):
        create_app(Settings(_env_file=None, viewer_id_hmac_key="short"), sink)


def test_hashing_keeps_every_other_field_of_the_beacon(sink: MemoryRecordSink) -> None:
    body = beacon(playing_view_events(6), viewer_id=RAW_VIEWER, page_url=PAGE, title="Élan ✓")
    with _client(sink, viewer_id_hmac_key=KEY) as client:
        assert client.post("/v1/beacons", json=body).status_code == 202
    [value] = _values(sink, "beacons")
    hashed = pseudonymous_viewer_id(KEY.encode(), RAW_VIEWER)
    context = {**body["context"], "page_url": "https://video.example/watch"}
    assert orjson.loads(value)["beacon"] == {**body, "viewer_id": hashed, "context": context}


@pytest.mark.parametrize(
    "raw_url",
    [b"https://video.example/watch?v=bbb&token=s3cret#t=30", rb"https://video.example/watch\u003ftoken=s3cret"],
    ids=["plain", "escaped"],
)
def test_page_urls_are_stored_without_query_and_fragment(sink: MemoryRecordSink, raw_url: bytes) -> None:
    body = orjson.dumps(beacon(page_url="PAGE")).replace(b'"PAGE"', b'"' + raw_url + b'"')
    with _client(sink) as client:
        assert client.post("/v1/beacons", content=body, headers={"content-type": "application/json"}).status_code == 202
    [value] = _values(sink, "beacons")
    assert BeaconRecord.model_validate_json(value).beacon.context.page_url == "https://video.example/watch"
    assert b"s3cret" not in value


def test_a_beacon_without_query_or_key_is_stored_byte_for_byte(sink: MemoryRecordSink) -> None:
    body = orjson.dumps(beacon(page_url="https://video.example/watch"), option=orjson.OPT_INDENT_2)
    with _client(sink) as client:
        assert client.post("/v1/beacons", content=body, headers={"content-type": "application/json"}).status_code == 202
    [value] = _values(sink, "beacons")
    assert value.endswith(b',"beacon":' + body + b"}")


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(beacon([event("teleport", 1, 0)], viewer_id=RAW_VIEWER, page_url=PAGE)),  # valid JSON, bad beacon
        orjson.dumps(beacon(viewer_id=RAW_VIEWER, page_url=PAGE))[:-5],  # not JSON at all
    ],
    ids=["invalid-beacon", "truncated-json"],
)
def test_dead_letters_keep_no_raw_viewer_id_or_page_query(sink: MemoryRecordSink, body: bytes) -> None:
    with _client(sink, viewer_id_hmac_key=KEY) as client:
        response = client.post("/v1/beacons", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    [value] = _values(sink, "beacons-dlq")
    letter = DeadLetter.model_validate_json(value)
    assert pseudonymous_viewer_id(KEY.encode(), RAW_VIEWER) in letter.body
    assert "https://video.example/watch" in letter.body
    assert RAW_VIEWER.encode() not in value and b"s3cret" not in value


def test_cmcd_viewers_are_hashed_too(sink: MemoryRecordSink) -> None:
    now = int(time.time() * 1000)
    good = session_line(0, "ps", now, sid="a", sta="s", qoe_viewer=RAW_VIEWER)
    bad = session_line(0, "ps", now, sid="b", sta="s", qoe_viewer=RAW_VIEWER) + '\ne=ps,sid="b",sn=1,ts=nope,v=2'
    with _client(sink, viewer_id_hmac_key=KEY) as client:
        assert client.post("/v1/cmcd", content=good, headers={"content-type": "application/cmcd"}).status_code == 202
        assert client.post("/v1/cmcd", content=bad, headers={"content-type": "application/cmcd"}).status_code == 400
    assert _stored_viewers(sink) == [pseudonymous_viewer_id(KEY.encode(), RAW_VIEWER)]
    assert not any(RAW_VIEWER.encode() in value for _, _, value in sink.records)
    assert len(_values(sink, "beacons-dlq")) == 1


# --- no IP address anywhere: the whole pipeline ----------------------------------------------------

# Addresses from the documentation ranges, so nothing else in the stack can contain them by chance.
CLIENT_ADDRESSES = ("203.0.113.77", "198.51.100.23", "192.0.2.44", "2001:db8::dead:beef")
PEER = "127.0.0.1"  # where the test's requests come from
FORWARDED = {
    "x-forwarded-for": f"{CLIENT_ADDRESSES[0]}, {CLIENT_ADDRESSES[1]}",
    "x-real-ip": CLIENT_ADDRESSES[2],
    "forwarded": f'for="[{CLIENT_ADDRESSES[3]}]";proto=https',
    "x-country": "NO",
}

# Every row of every table of every non-system database of an embedded warehouse, as text. It runs
# in its own process: chDB opens one data directory per process, and this one is the stack's.
DUMP_WAREHOUSE = """
import sys
import clickhouse_connect
client = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1])
tables = client.query(
    "SELECT database, name FROM system.tables WHERE database NOT IN "
    "('system', 'information_schema', 'INFORMATION_SCHEMA') AND engine NOT IN ('Null', 'View', 'MaterializedView')"
).result_rows
for database, name in tables:
    rows = client.raw_query(f"SELECT * FROM `{database}`.`{name}`", fmt="TabSeparatedWithNames")
    sys.stdout.buffer.write(f"== {database}.{name}\\n".encode() + rows)
"""


def _view_stored(stack: LocalStack, view_id: str) -> bool:
    try:
        return (
            httpx.get(f"{stack.internal_api}/v1/views/{view_id}", headers=stack.auth_headers, timeout=5).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


def _every_kafka_record(bootstrap: str) -> bytes:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in consumer.topics()
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        return b"\n".join((r.key or b"") + b" " + (r.value or b"") for r in consumer)
    finally:
        consumer.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "qoe") as running:
        yield running


@pytest.mark.integration
def test_no_ip_address_is_stored_anywhere(stack: LocalStack) -> None:
    body = beacon(playing_view_events(8), page_url=PAGE)
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        assert client.post("/v1/beacons", json=body, headers=FORWARDED).status_code == 202
        refused = client.post("/v1/beacons", json=beacon([event("teleport", 1, 0)]), headers=FORWARDED)
        assert refused.status_code == 422  # a dead letter, stored with the request's details
    wait_for(lambda: _view_stored(stack, body["view_id"]), 60, "the view in the warehouse")

    kafka = _every_kafka_record(stack.env["QOE_KAFKA_BOOTSTRAP"])
    assert stack.worker is not None
    stack.worker.stop()  # the warehouse's data directory is the worker's until it exits
    dump = subprocess.run(
        [sys.executable, "-c", DUMP_WAREHOUSE, str(stack.settings.data_dir / "warehouse")],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout

    view = body["view_id"].encode()
    assert view in kafka and b"teleport" in kafka, "the scan must see both records"
    assert dump.count(view) >= 2 and b"== qoe.views\n" in dump, "the scan must see raw events and the view"
    for address in (*CLIENT_ADDRESSES, PEER):
        assert address.encode() not in kafka, f"{address} is in a Kafka record"
        assert address.encode() not in dump, f"{address} is in the warehouse"
