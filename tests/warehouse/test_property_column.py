"""Migration 0045 on the real embedded engine: raw events and views are stored with their property.

The raw sink hands ClickHouse whole Kafka records; ``server.property`` goes to ``beacon_events.property``
through the materialized view, whose other columns must not change. A record without the key (written
before properties existed) still inserts, as the default property (``default``). Rows stored before the migration
read as the default property too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from streams.sink import RawEventSink, SourceRecord
from tests.factories.recommender import insert_views, view_row
from tests.factories.views import MINUTE_MS, Script, record
from warehouse.client import connect
from warehouse.migrations import discover, migrate

pytestmark = pytest.mark.integration

PROPERTY_MIGRATION = 45


@pytest.fixture
def before_0045(settings: Settings) -> Iterator[Client]:
    """A warehouse migrated up to, not including, 0045: a data directory from before properties."""
    client = connect(settings)
    migrate(client, settings, [m for m in discover() if m.version < PROPERTY_MIGRATION])
    yield client
    client.command(f"DROP DATABASE IF EXISTS {settings.warehouse_database}")


ABSENT = object()  # a record without the key, as ingest wrote them before properties


def a_beacon(view_id: str, t0: int, prop: Any) -> bytes:
    script = Script(t0).at(0, "playback_request").at(800, "playback_start").at(5000, "view_end")
    server = {"region": "NO-03"} | ({} if prop is ABSENT else {"property": prop})
    value = record(script.events, view_id, server=server)
    assert (b'"property"' in value) is (prop is not ABSENT)
    return value


def event_rows(client: Client) -> dict[str, list[dict[str, Any]]]:
    result = client.query("SELECT * FROM beacon_events ORDER BY view_id, seq")
    rows: dict[str, list[dict[str, Any]]] = {}
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        rows.setdefault(str(row["view_id"]), []).append(row)
    return rows


def others(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events' columns but those that differ between the views of :func:`a_beacon`."""
    differ = ("view_id", "viewer_id", "property", "kafka_offset")
    return [{k: v for k, v in row.items() if k not in differ} for row in events]


def test_0045_is_the_migration_that_adds_the_property() -> None:
    assert [m.name for m in discover() if m.version == PROPERTY_MIGRATION] == ["property_column"]


def test_events_and_views_get_their_property_and_old_rows_the_default(settings: Settings, before_0045: Client) -> None:
    client, t0 = before_0045, (int(time.time() * 1000) // MINUTE_MS - 2) * MINUTE_MS
    sink = RawEventSink(client, "c/beacons")
    sink.write([SourceRecord(0, 0, a_beacon("v-before", t0, ABSENT))])
    insert_views(client, [view_row("viewer", "t1", view_id="v-before")])

    up_to_0045 = [m for m in discover() if m.version <= PROPERTY_MIGRATION]
    assert [m.version for m in migrate(client, settings, up_to_0045)] == [PROPERTY_MIGRATION]
    sink.write(
        [
            SourceRecord(0, 1, a_beacon("v-after", t0, ABSENT)),  # ingest from before properties
            SourceRecord(0, 2, a_beacon("v-a", t0, "brand-a")),
            SourceRecord(0, 3, a_beacon("v-b", t0, "brand-b")),
            SourceRecord(0, 4, a_beacon("v-empty", t0, "")),
            SourceRecord(0, 5, a_beacon("v-null", t0, None)),
        ]
    )
    assert sink.events_written == 18  # nothing refused: 6 records of 3 events
    rows = event_rows(client)
    properties = {view_id: {row["property"] for row in events} for view_id, events in rows.items()}
    assert properties == {
        "v-before": {"default"},
        "v-after": {"default"},
        "v-a": {"brand-a"},
        "v-b": {"brand-b"},
        "v-empty": {"default"},
        "v-null": {"default"},
    }
    # Every other column is what the query before 0045 wrote for the same beacon.
    assert others(rows["v-a"]) == others(rows["v-after"]) == others(rows["v-before"])
    assert [row["country"] for row in rows["v-a"]] == ["NO"] * 3  # the server's, through the tuple
    assert [row["region"] for row in rows["v-a"]] == ["NO-03"] * 3

    insert_views(client, [view_row("viewer", "t1", view_id="v-brand", property="brand-a")])
    views = client.query("SELECT view_id, property FROM views ORDER BY view_id").result_rows
    assert views == [("v-before", "default"), ("v-brand", "brand-a")]


def test_the_columns_are_low_cardinality_strings_defaulting_to_the_default_property(warehouse: Client) -> None:
    rows = warehouse.query(
        "SELECT table, type, default_kind, default_expression FROM system.columns WHERE database = currentDatabase() "
        "AND table IN ('beacon_events', 'views') AND name = 'property' ORDER BY table"
    ).result_rows
    assert rows == [
        ("beacon_events", "LowCardinality(String)", "DEFAULT", "'default'"),
        ("views", "LowCardinality(String)", "DEFAULT", "'default'"),
    ]
