"""Raw events (warehouse.events) on the real embedded engine: one definition of duplicates, empty reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from streams.sink import RawEventSink, SourceRecord
from tests.factories.access import admin_api
from tests.factories.views import MINUTE_MS, Script, record
from warehouse import events
from warehouse.results import iso_ms

pytestmark = pytest.mark.integration

RESENT_AFTER_MS = 7_000


def store_a_resent_beacon(warehouse: Client) -> tuple[list[int], int]:
    """A view's beacon, then the same beacon again (the SDK lost the 202): every event twice."""
    t0 = (int(time.time() * 1000) // MINUTE_MS - 2) * MINUTE_MS
    script = Script(t0).at(0, "playback_request").at(800, "playback_start").at(5_000, "view_end", reason="ended")
    first, resent = t0 + 5_040, t0 + 5_040 + RESENT_AFTER_MS
    values = [record(script.events, "resent", received_at=at) for at in (first, resent)]
    sink = RawEventSink(warehouse, "c/beacons")
    for offset, value in enumerate(values):  # two inserts: within one, the engine folds copies at once
        sink.write([SourceRecord(0, offset, value)])
    return [0, 1, 2], resent


def test_both_event_routes_fold_duplicates_the_same_way_before_and_after_a_merge(
    settings: Settings, warehouse: Client
) -> None:
    seqs, newest = store_a_resent_beacon(warehouse)
    assert warehouse.query("SELECT count() FROM beacon_events").result_rows[0][0] == 6
    api = admin_api(settings, warehouse)
    answers = []
    for merged in (False, True):
        if merged:
            warehouse.command("OPTIMIZE TABLE beacon_events FINAL")
            assert warehouse.query("SELECT count() FROM beacon_events").result_rows[0][0] == 3
        raw = api.get("/v1/events", params={"view_id": "resent"}).json()["events"]
        assert [e["seq"] for e in raw] == seqs
        timeline = events.timeline(warehouse, "resent")
        assert [e["seq"] for e in timeline] == seqs
        assert {datetime.fromisoformat(e["received_at"]) for e in raw} == {datetime.fromtimestamp(newest / 1000, UTC)}
        assert {e["received_at"] for e in timeline} == {iso_ms(newest)}
        answers.append((raw, timeline))
    assert answers[0] == answers[1]


def test_an_unknown_view_has_no_events_and_is_a_404(settings: Settings, warehouse: Client) -> None:
    frame = events.view_events(warehouse, "nobody")
    assert frame.empty
    assert list(frame.columns) == ["seq", "ts", "received_at", "type", "playhead_ms", "attrs", "cdn"]
    assert events.timeline(warehouse, "nobody") == []
    assert not events.has_events(warehouse, "nobody")
    assert events.events_of_views(warehouse, ["nobody"]) == []
    api = admin_api(settings, warehouse)
    answer = api.get("/v1/events", params={"view_id": "nobody"})
    assert answer.status_code == 404
    assert "no events for view 'nobody'" in answer.json()["detail"]


def test_an_empty_warehouse_reads_as_empty_frames_with_their_columns(warehouse: Client) -> None:
    assert list(events.events_per_minute(warehouse, 30).columns) == ["minute", "type", "events"]
    assert list(events.active_views_by_cdn(warehouse, 30).columns) == ["minute", "cdn", "views"]
    summary = events.event_summary(warehouse, minutes=1)
    assert (summary["rows"], summary["distinct_events"], summary["views"]) == (0, 0, 0)
    assert summary["newest_received_at"] is None
    assert events.stored_offsets(warehouse, "c/beacons") == {}


def test_the_sinks_ledger_reads_what_was_stored(warehouse: Client) -> None:
    store_a_resent_beacon(warehouse)
    assert events.stored_offsets(warehouse, "c/beacons") == {0: 1}
    assert events.offsets_present(warehouse, "c/beacons", 0, 0, 5) == {0, 1}
    assert events.offsets_present(warehouse, "another/log", 0, 0, 5) == set()
