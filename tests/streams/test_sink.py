"""The raw-event sink on the real embedded warehouse engine."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from streams.sink import RawEventSink, SourceRecord, dedup_token, split_by_day
from tests.factories.beacons import beacon, playing_view_events

DAY_MS = 86_400_000
# Recent enough to live through the raw-event TTL.
NOON = (int(time.time() * 1000) // DAY_MS) * DAY_MS - DAY_MS // 2


def record(partition: int, offset: int, events: int, received_at: int = NOON, **context: Any) -> SourceRecord:
    server = {"received_at": received_at, "country": "", "device_type": "desktop", "browser": "Chrome", "os": "Linux"}
    # Same shape as ingest.beacons.record_value: the server context first, then the beacon as sent.
    value = orjson.dumps({"server": server, "beacon": beacon(playing_view_events(events), **context)})
    return SourceRecord(partition, offset, value)


def count(client: Client) -> int:
    return int(client.query("SELECT count() FROM beacon_events").result_rows[0][0])


def test_every_event_becomes_one_row_with_its_dimensions(warehouse: Client) -> None:
    sink = RawEventSink(warehouse, "cluster/beacons")
    written = sink.write([record(0, 0, 5, cdn="cdn-b", country="SE"), record(1, 0, 3)])
    assert written.events == 8 == count(warehouse)
    row = warehouse.query(
        "SELECT cdn, country, device_type, browser, type, JSONExtractFloat(attrs, 'bitrate_kbps') "
        "FROM beacon_events WHERE seq = 1 AND cdn = 'cdn-b'"
    ).result_rows
    assert row == [("cdn-b", "SE", "desktop", "Chrome", "rendition_change", 2500.0)]


def test_replayed_records_are_not_written_again(warehouse: Client) -> None:
    records = [record(0, offset, 4) for offset in range(10)]
    RawEventSink(warehouse, "c/beacons").write(records[:7])
    # A restarted worker re-reads from its last committed offset, say 3, and knows nothing else.
    restarted = RawEventSink(warehouse, "c/beacons")
    assert restarted.write(records[3:]).events == 12
    assert restarted.replayed_skipped == 4
    assert count(warehouse) == 40


def test_a_crash_between_day_blocks_loses_nothing(warehouse: Client) -> None:
    late_offset_early_day = record(0, 11, 2, received_at=NOON - DAY_MS)
    early_offset_late_day = record(0, 10, 3, received_at=NOON)
    # The crashed worker stored only the first day's block, which holds the higher offset.
    RawEventSink(warehouse, "c/beacons").write([late_offset_early_day])
    assert RawEventSink(warehouse, "c/beacons").write([early_offset_late_day, late_offset_early_day]).events == 3
    assert count(warehouse) == 5


def test_another_log_with_the_same_offsets_is_new_data(warehouse: Client) -> None:
    RawEventSink(warehouse, "cluster-1/beacons").write([record(0, 0, 2)])
    assert RawEventSink(warehouse, "cluster-2/beacons").write([record(0, 0, 2)]).events == 2


def test_bad_records_are_isolated_and_returned_for_the_dead_letter_topic(warehouse: Client) -> None:
    unparsable = SourceRecord(0, 2, b'{"server":{"received_at":"soon"},"beacon":{}}')
    records = [SourceRecord(0, 0, b"not json"), record(0, 1, 2), unparsable, record(0, 3, 4), record(0, 4, 1)]
    result = RawEventSink(warehouse, "c/beacons").write(records)
    assert result.events == 7 == count(warehouse)
    assert sorted(r.offset for r, _ in result.bad) == [0, 2]
    assert "Cannot parse" in dict((r.offset, why) for r, why in result.bad)[2]


def test_split_by_day_and_token() -> None:
    a, b, c = record(0, 1, 1, NOON), record(1, 5, 1, NOON + DAY_MS), record(0, 2, 1, NOON)
    assert [[r.offset for r in g] for g in split_by_day([a, b, c])] == [[1, 2], [5]]
    assert dedup_token("s", [a, b, c]) == "s|0:1-2,1:5-5"


@pytest.mark.parametrize("days", [3, 45])
def test_ttl_follows_the_setting(warehouse: Client, settings, days: int) -> None:  # type: ignore[no-untyped-def]
    from warehouse.migrations import migrate

    migrate(warehouse, settings.model_copy(update={"raw_retention_days": days}))
    ddl = warehouse.query(
        "SELECT create_table_query FROM system.tables WHERE name = 'beacon_events' AND database = currentDatabase()"
    ).result_rows[0][0]
    assert f"toIntervalDay({days})" in ddl
