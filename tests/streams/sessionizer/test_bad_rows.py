"""A view whose rows the warehouse refuses is dead-lettered; every other view of the flush is written.

On the real embedded warehouse engine. The poisoned views are built past ``read_record``, which
refuses such values itself: the write path must hold even for data the reader let through.
"""

from __future__ import annotations

import dataclasses
import time

from clickhouse_connect.driver.client import Client

from schemas.view_facts import COLUMNS
from streams.failures import RetryPolicy
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.events import BeaconIn, read_record
from streams.sessionizer.store import ViewStore
from tests.factories.views import MINUTE_MS, Script, record

NO_WAIT = RetryPolicy(max_retries=1, first_delay_s=0.0, max_delay_s=0.0)


def recent_t0() -> int:
    return (int(time.time() * 1000) // MINUTE_MS - 5) * MINUTE_MS


def watched(view_id: str) -> BeaconIn:
    script = Script(recent_t0()).at(0, "playback_request").at(100, "rendition_change", bitrate_kbps=2000)
    script.at(1000, "playback_start").at(11_000, "heartbeat").at(21_000, "view_end")
    return read_record(record(script.events, view_id))


def stored_views(client: Client) -> set[str]:
    return {str(row[0]) for row in client.query("SELECT DISTINCT view_id FROM views").result_rows}


def rolled_up(client: Client, column: str) -> float:
    assert column in COLUMNS
    return float(client.query(f"SELECT sum({column}) FROM qoe_minute WHERE dimension = 'all'").result_rows[0][0])


def unencodable(view_id: str) -> BeaconIn:
    """seq = 2^64: the views row's max_seq is an integer orjson cannot encode."""
    beacon = watched(view_id)
    *head, last = beacon.events
    return dataclasses.replace(beacon, events=[*head, last._replace(seq=2**64)])


def refused_by_clickhouse(view_id: str) -> BeaconIn:
    """An ASN as text: orjson encodes it, ClickHouse cannot parse it as the UInt32 of its column."""
    beacon = watched(view_id)
    return dataclasses.replace(beacon, dims=dataclasses.replace(beacon.dims, asn="AS64500"))  # type: ignore[arg-type]


def test_refused_views_are_returned_and_every_other_view_is_written(warehouse: Client) -> None:
    sessionizer = Sessionizer(ViewStore(warehouse, NO_WAIT))
    good = [f"ok-{i}" for i in range(6)]
    for i, view_id in enumerate(good):
        sessionizer.ingest_beacon(watched(view_id), i % 2)
    sessionizer.ingest_beacon(unencodable("bad-int"), 0)
    sessionizer.ingest_beacon(refused_by_clickhouse("bad-type"), 1)
    plan = sessionizer.plan()
    writes = sessionizer.apply(plan, sessionizer.load(plan))
    refused = sessionizer.write(writes)
    assert {bad.item.view_id for bad in refused} == {"bad-int", "bad-type"}
    assert "64-bit" in next(bad.reason for bad in refused if bad.item.view_id == "bad-int")
    assert stored_views(warehouse) == set(good)
    # No delta of a refused view reached the rollups: 6 views of 5 events, 20 s watched each.
    assert rolled_up(warehouse, "events") == 6 * 5
    assert rolled_up(warehouse, "watch_ms") == 6 * 20_000


def test_a_refused_view_leaves_memory_and_a_later_event_starts_it_afresh(warehouse: Client) -> None:
    sessionizer = Sessionizer(ViewStore(warehouse, NO_WAIT))
    sessionizer.ingest_beacon(unencodable("bad-int"), 0)
    sessionizer.ingest_beacon(watched("ok"), 0)
    sessionizer.flush()
    assert set(sessionizer.sessions) == {"ok"} and sessionizer.stats.dead_lettered == 1
    sessionizer.ingest_beacon(watched("bad-int"), 0)  # the same view, readable this time
    sessionizer.flush()
    assert stored_views(warehouse) == {"ok", "bad-int"}
    assert rolled_up(warehouse, "events") == 2 * 5
