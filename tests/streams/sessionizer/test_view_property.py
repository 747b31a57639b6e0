"""A view's property (tenancy): its first beacon's ``server.property``, a view dimension
(``Dims.property``) carried into its ``views`` rows and its deltas, so the rollups slice by it.

A record written before properties existed has no ``server.property``: it belongs to the default
property (``default``). A property that is not a property id is a record ingest would not write: refused whole.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from streams.sessionizer.core import Sessionizer
from streams.sessionizer.events import RecordError, read_record
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.views import MINUTE_MS, Script, record, split

PLAYED = Script().at(0, "playback_request").at(800, "playback_start").at(5800, "heartbeat").at(9800, "view_end")


def recent_t0() -> int:
    return (int(time.time() * 1000) // MINUTE_MS - 5) * MINUTE_MS


def without_property(value: bytes) -> bytes:
    parsed = orjson.loads(value)
    parsed["server"].pop("property", None)
    return orjson.dumps(parsed)


def properties_of_views(client: Client) -> dict[str, str]:
    rows = client.query("SELECT view_id, argMax(property, version) FROM views GROUP BY view_id").result_rows
    return {str(view_id): str(prop) for view_id, prop in rows}


def properties_of_deltas(client: Client) -> dict[str, set[str]]:
    rows = client.query("SELECT view_id, groupUniqArray(property) FROM view_deltas GROUP BY view_id").result_rows
    return {str(view_id): set(props) for view_id, props in rows}


def attempts_per_property(client: Client) -> dict[str, float]:
    """The rollups' attempts per property: qoe_minute's ``property`` rows, and the cube's column."""
    minute = client.query(
        "SELECT value, sum(attempts) FROM qoe_minute WHERE dimension = 'property' GROUP BY value"
    ).result_rows
    cube = client.query("SELECT property, sum(attempts) FROM qoe_minute_cube GROUP BY property").result_rows
    per_property = {str(prop): float(n) for prop, n in minute}
    assert per_property == {str(prop): float(n) for prop, n in cube}
    return per_property


# --- reading records (no warehouse) ---------------------------------------------------------
def test_a_record_carries_its_property() -> None:
    assert read_record(record(PLAYED.events, "v", server={"property": "brand-a"})).dims.property == "brand-a"


@pytest.mark.parametrize("server", [{}, {"property": ""}, {"property": None}], ids=["no key", "empty", "null"])
def test_a_record_without_a_property_is_of_the_default_property(server: dict[str, Any]) -> None:
    assert read_record(record(PLAYED.events, "v", server=server)).dims.property == "default"


@pytest.mark.parametrize(
    "value",
    [7, ["brand-a"], {"id": "brand-a"}, "Brand-A", "brand a", "-brand", "brand-a\n", "b" * 64, "brand_a"],
    ids=["number", "list", "object", "upper case", "space", "leading dash", "newline", "64 chars", "underscore"],
)
def test_a_property_that_is_no_property_id_is_refused_whole(value: Any) -> None:
    with pytest.raises(RecordError, match="not a beacon record"):
        read_record(record(PLAYED.events, "v", server={"property": value}))


# --- the sessionizer on the embedded warehouse ----------------------------------------------
@pytest.mark.integration
def test_views_are_written_with_the_property_of_their_first_beacon(warehouse: Client) -> None:
    script = Script(recent_t0()).at(0, "playback_request").at(800, "playback_start").at(5800, "heartbeat")
    script.at(9800, "view_end")
    first, rest = split(script.events, [2])
    sessionizer = Sessionizer(ViewStore(warehouse))
    sessionizer.ingest(record(script.events, "v-a", server={"property": "brand-a"}), 0)
    sessionizer.ingest(record(script.events, "v-b", server={"property": "brand-b"}), 1)
    sessionizer.ingest(without_property(record(script.events, "v-old")), 2)
    # A view belongs to one property: a later beacon naming another does not move it.
    sessionizer.ingest(record(first, "v-moved", server={"property": "brand-a"}), 3)
    sessionizer.flush()
    sessionizer.ingest(record(rest, "v-moved", batch_seq=1, server={"property": "brand-b"}), 3)
    sessionizer.flush()
    assert sessionizer.stats.bad_records == 0
    assert properties_of_views(warehouse) == {
        "v-a": "brand-a",
        "v-b": "brand-b",
        "v-old": "default",
        "v-moved": "brand-a",
    }
    counts = warehouse.query("SELECT property, count() FROM views GROUP BY property ORDER BY property").result_rows
    assert counts == [("brand-a", 3), ("brand-b", 1), ("default", 1)]  # every version of v-moved kept brand-a
    # The deltas carry it too (every delta of v-moved, also those of the later beacon's events)...
    assert properties_of_deltas(warehouse) == {
        "v-a": {"brand-a"},
        "v-b": {"brand-b"},
        "v-old": {"default"},
        "v-moved": {"brand-a"},
    }
    # ...so the rollups count each view once, under its property.
    assert attempts_per_property(warehouse) == {"brand-a": 2, "brand-b": 1, "default": 1}


@pytest.mark.integration
def test_a_rebuilt_view_keeps_its_property(warehouse: Client) -> None:
    """A restarted worker rebuilds the view from the warehouse: the property comes back from ``views``."""
    script = Script(recent_t0()).at(0, "playback_request").at(800, "playback_start").at(5800, "heartbeat")
    script.at(9800, "view_end")
    batches = split(script.events, [3])
    records = [record(b, "v-rebuilt", batch_seq=i, server={"property": "brand-a"}) for i, b in enumerate(batches)]
    first = Sessionizer(ViewStore(warehouse))
    first.ingest(records[0], 0)
    first.flush()
    RawEventSink(warehouse, "c/beacons").write([SourceRecord(0, 0, records[0])])
    # The next worker sees the view's last beacon first, from a record that names no property.
    second = Sessionizer(ViewStore(warehouse))
    second.ingest(without_property(records[1]), 0)
    second.flush()
    assert second.stats.rebuilt == 1
    assert properties_of_views(warehouse) == {"v-rebuilt": "brand-a"}
    assert properties_of_deltas(warehouse) == {"v-rebuilt": {"brand-a"}}  # the rebuilt view's deltas too
    closed = warehouse.query("SELECT argMax(closed, version) FROM views WHERE view_id = 'v-rebuilt'").result_rows
    assert closed == [(True,)]
