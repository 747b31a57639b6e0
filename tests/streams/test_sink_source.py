"""A record's source id (ingest's keyed hash of the client address) stays on Kafka: no table keeps it."""

from __future__ import annotations

import time

import orjson
from clickhouse_connect.driver.client import Client

from ingest.beacons import record_value
from schemas import ServerContext
from schemas.dimensions import VIEW_DIMENSIONS
from streams.sink import RawEventSink, SourceRecord
from tests.factories.beacons import beacon, playing_view_events

SOURCE = "5ca1ab1e" * 3  # shaped like a source id ingest writes: 12 bytes as hex


def _every_row(client: Client) -> str:
    """Every row of every table of the test's database, as text."""
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT IN ('Null', 'View', 'MaterializedView')"
    ).result_rows
    dump = [client.raw_query(f"SELECT * FROM `{name}`", fmt="TabSeparatedWithNames").decode() for (name,) in tables]
    return "\n".join(dump)


def test_no_column_of_the_raw_events_keeps_the_source(warehouse: Client) -> None:
    body = beacon(playing_view_events(5))
    server = ServerContext(received_at=int(time.time() * 1000), country="NO", device_type="mobile", source=SOURCE)
    value = record_value(server, orjson.dumps(body))
    assert SOURCE.encode() in value  # the Kafka record carries it
    assert RawEventSink(warehouse, "c/beacons").write([SourceRecord(0, 0, value)]).events == 5
    rows = _every_row(warehouse)
    assert rows.count(body["view_id"]) >= 5, "the scan must see the record's events"
    assert SOURCE not in rows


def test_the_sessionizer_takes_no_dimension_from_the_source() -> None:
    # The sessionizer copies the server context into views only through the view dimensions.
    assert "source" not in {d.field for d in VIEW_DIMENSIONS}
