"""Properties (tenancy groundwork) through the real pipeline: Kafka (real Tansu) → the worker → chDB.

Records go straight to the beacons topic, as ingest writes them with the property it resolved in
``server.property``, and one as ingest wrote them before properties existed (no key). Every raw
event lands in ``beacon_events`` with its record's property; every view in ``views`` with its
first beacon's, also when a later beacon names another; and the Stats API breaks the views down
by it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from foundation.stack import LocalStack
from tests.factories.views import Script, record
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

# Reads the worker's warehouse once the worker has exited (chDB: one process per data directory).
READ_PROPERTIES = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1], database=sys.argv[2])
events = client.query("SELECT view_id, seq, property FROM beacon_events ORDER BY view_id, seq").result_rows
views = client.query("SELECT view_id, argMax(property, version) FROM views GROUP BY view_id").result_rows
print(json.dumps({
    "events": [[str(v), int(seq), str(p)] for v, seq, p in events],
    "views": {str(v): str(p) for v, p in views},
}))
"""


def produce(stack: LocalStack, records: list[tuple[str, bytes]]) -> None:
    """Writes (view id, value) records to the beacons topic, keyed as ingest keys them."""
    producer = KafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all")
    try:
        for key, value in records:
            producer.send(stack.settings.topic_beacons, key=key.encode(), value=value)
        producer.flush()
    finally:
        producer.close()


def without_property(value: bytes) -> bytes:
    parsed = orjson.loads(value)
    parsed["server"].pop("property", None)
    return orjson.dumps(parsed)


def stored_view(client: httpx.Client, view_id: str) -> dict[str, Any] | None:
    response = client.get(f"/v1/views/{view_id}")
    if response.status_code != 200:
        return None
    found: dict[str, Any] = response.json()["view"]
    return found


def event_count(client: httpx.Client, view_id: str) -> int:
    response = client.get("/v1/events", params={"view_id": view_id})
    return len(response.json()["events"]) if response.status_code == 200 else 0


def attempts_per_property(client: httpx.Client) -> dict[str, int]:
    response = client.get("/v1/stats/breakdown", params={"dimension": "property", "minutes": 15})
    assert response.status_code == 200, response.text
    return {row["value"]: row["attempts"] for row in response.json()["rows"]}


def test_events_and_views_are_stored_with_their_property(stack: LocalStack) -> None:
    t0 = int(time.time() * 1000) - 60_000
    script = Script(t0).at(0, "playback_request").at(800, "playback_start").at(10_800, "heartbeat")
    script.at(20_800, "view_end")
    start, end = script.events[:2], script.events[2:]
    records = [
        ("prop-a", record(script.events, "prop-a", server={"property": "brand-a"})),
        ("prop-b", record(script.events, "prop-b", server={"property": "brand-b"})),
        ("prop-none", without_property(record(script.events, "prop-none"))),
        ("prop-moved", record(start, "prop-moved", server={"property": "brand-a"})),
        ("prop-moved", record(end, "prop-moved", batch_seq=1, server={"property": "brand-b"})),
    ]
    assert b'"property"' not in records[2][1]
    produce(stack, records)

    expected_views = {"prop-a": "brand-a", "prop-b": "brand-b", "prop-none": "default", "prop-moved": "brand-a"}
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        for view_id, prop in expected_views.items():
            view = wait_for(
                partial(stored_view, client, view_id),
                90,
                f"view {view_id} closed with its 4 events",
                until=lambda found: found["closed"] and found["events"] == 4,
                poll_s=0.5,
            )
            assert view["property"] == prop, view_id  # /v1/views/{view_id} shows it too
            # The raw sink flushes apart from the sessionizer: a view's row can land before its events.
            wait_for(partial(event_count, client, view_id), 30, f"{view_id}'s 4 raw events", until=lambda n: n == 4)
        # The property is a view dimension: the rollups count each view once, under its property.
        rolled_up = {"brand-a": 2, "brand-b": 1, "default": 1}
        wait_for(partial(attempts_per_property, client), 30, "the views rolled up", until=rolled_up.__eq__)

    assert stack.worker is not None
    stack.worker.stop()  # the warehouse's data directory is the worker's until it exits
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            READ_PROPERTIES,
            str(stack.settings.data_dir / "warehouse"),
            stack.settings.warehouse_database,
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    stored = json.loads(read.stdout)
    assert stored["views"] == expected_views
    by_event = {(view_id, seq): prop for view_id, seq, prop in stored["events"]}
    assert by_event == {
        **{("prop-a", seq): "brand-a" for seq in range(4)},
        **{("prop-b", seq): "brand-b" for seq in range(4)},
        **{("prop-none", seq): "default" for seq in range(4)},
        # Raw events keep their own record's property; the view keeps its first beacon's.
        ("prop-moved", 0): "brand-a",
        ("prop-moved", 1): "brand-a",
        ("prop-moved", 2): "brand-b",
        ("prop-moved", 3): "brand-b",
    }
