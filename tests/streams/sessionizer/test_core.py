"""The sessionizer on the real embedded warehouse: deltas, re-folds, restarts, timeouts.

The invariant behind every test: whatever the order, duplication or lateness of beacons and
whatever restarts happen, the rollups end up holding each view's final figures exactly once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas.view_facts import COLUMNS
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.views import MINUTE_MS, Script, record, split


class DictRegistry:
    def __init__(self) -> None:
        self.open: dict[str, tuple[int, int]] = {}

    def opened(self, view_id: str, partition: int, last_received_ms: int) -> None:
        self.open[view_id] = (partition, last_received_ms)

    def closed(self, view_id: str, partition: int) -> None:
        self.open.pop(view_id, None)

    def evicted(self, view_id: str, partition: int) -> None:
        self.open.pop(view_id, None)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def recent_t0() -> int:
    return (int(time.time() * 1000) // MINUTE_MS - 5) * MINUTE_MS


def rollup(client: Client, table: str = "qoe_minute", where: str = "dimension = 'all'") -> dict[str, float]:
    sums = ", ".join(f"sum({c})" for c in COLUMNS)
    row = client.query(f"SELECT {sums} FROM {table} WHERE {where}").result_rows[0]
    return dict(zip(COLUMNS, (float(x) for x in row), strict=True))


def latest_view(client: Client, view_id: str) -> dict[str, Any]:
    result = client.query("SELECT * FROM views FINAL WHERE view_id = {v:String}", parameters={"v": view_id})
    assert len(result.result_rows) == 1
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def watched_view(t0: int) -> Script:
    return (
        Script(t0)
        .at(0, "playback_request")
        .at(100, "rendition_change", bitrate_kbps=2000)
        .at(1000, "playback_start")
        .at(11_000, "stall_start")
        .at(13_000, "stall_end")
        .at(21_000, "heartbeat", dropped_frames=0, total_frames=600)
        .at(31_000, "pause")
        .at(41_000, "resume")
        .at(51_000, "view_end", reason="user_exit")
    )


# Hand computation for watched_view: watch = (51000 − 1000) − (41000 − 31000) paused = 40000,
# of which 2000 stalled (one stall); VST = 1000 − 0 = 1000; 9 events.
WATCH_MS, STALL_MS, VST_MS = 40_000.0, 2000.0, 1000.0


def assert_counted_once(client: Client, view_id: str) -> None:
    view = latest_view(client, view_id)
    assert (view["watch_ms"], view["stall_ms"], view["stall_count"], view["vst_ms"]) == (WATCH_MS, STALL_MS, 1, VST_MS)
    assert view["closed"] and view["events"] == 9
    sums = rollup(client)
    assert sums["attempts"] == sums["plays"] == sums["ended_views"] == sums["scored_views"] == 1
    assert (sums["watch_ms"], sums["stall_ms"], sums["stall_count"], sums["events"]) == (WATCH_MS, STALL_MS, 1, 9)
    assert sums["score_sum"] == pytest.approx(view["qoe_score"])
    assert sums["vst_count"] == 1 and sums["vst_sum_ms"] == VST_MS
    digest = client.query(
        "SELECT countMerge(c) FROM (SELECT countState() AS c FROM view_deltas WHERE vst_samples = 1)"
    ).result_rows[0][0]
    assert digest == 1  # the startup time entered the digest exactly once
    assert rollup(client, "qoe_minute_cube", "1") == sums


def test_out_of_order_duplicate_and_late_beacons_are_counted_once(warehouse: Client) -> None:
    script = watched_view(recent_t0())
    b0, b1, b2, b3 = (record(batch, "v-ooo", batch_seq=i) for i, batch in enumerate(split(script.events, [3, 3, 2])))
    sessionizer = Sessionizer(ViewStore(warehouse))
    sessionizer.ingest(b1, 0)  # the second beacon overtook the first
    sessionizer.flush()
    sessionizer.ingest(b0, 0)  # before what is folded: fold again
    sessionizer.ingest(b0, 0)  # a retried beacon: duplicates by seq
    sessionizer.flush()
    sessionizer.ingest(b3, 0)  # view_end: the view closes without the pause and resume
    sessionizer.flush()
    assert latest_view(warehouse, "v-ooo")["watch_ms"] == 50_000  # 51000 − 1000, no pause known yet
    sessionizer.ingest(b2, 0)  # late: after the view closed
    sessionizer.flush()
    assert sessionizer.stats.duplicates == 3 and sessionizer.stats.refolds == 2
    assert_counted_once(warehouse, "v-ooo")


def test_a_restarted_sessionizer_rebuilds_from_the_warehouse_without_double_counting(warehouse: Client) -> None:
    script = watched_view(recent_t0())
    records = [record(b, "v-crash", batch_seq=i) for i, b in enumerate(split(script.events, [3, 3, 2]))]
    sink = RawEventSink(warehouse, "c/beacons")
    first = Sessionizer(ViewStore(warehouse))
    for offset in (0, 1):
        first.ingest(records[offset], 0)
    first.flush()
    sink.write([SourceRecord(0, 0, records[0]), SourceRecord(0, 1, records[1])])
    first.ingest(records[2], 0)  # folded, never flushed: the worker dies here
    # The restarted worker replays what was not committed (records 1 and 2) and goes on with 3.
    second = Sessionizer(ViewStore(warehouse))
    for offset in (1, 2, 3):
        second.ingest(records[offset], 0)
    second.flush()
    assert second.stats.rebuilt == 1
    assert_counted_once(warehouse, "v-crash")


def test_inactivity_closes_a_view_and_a_later_event_reopens_it(warehouse: Client) -> None:
    t0 = recent_t0()
    clock = Clock()
    config = SessionizerConfig(inactivity_timeout_s=30)
    sessionizer = Sessionizer(ViewStore(warehouse), config, clock=clock)
    waiting = Script(t0).at(0, "playback_request").at(5000, "heartbeat")
    sessionizer.ingest(record(waiting.events, "v-idle", received_at=int(clock.now * 1000)), 0)
    sessionizer.flush()
    assert rollup(warehouse)["ebvs"] == 0  # still starting
    clock.now += 31
    sessionizer.flush()
    view = latest_view(warehouse, "v-idle")
    assert (view["closed"], view["exit_reason"], view["ebvs"]) == (True, "timeout", True)
    assert rollup(warehouse)["ebvs"] == 1 and rollup(warehouse)["ended_views"] == 1
    started = waiting.at(40_000, "playback_start")
    sessionizer.ingest(record(started.events[2:], "v-idle", received_at=int(clock.now * 1000), batch_seq=1), 0)
    sessionizer.flush()
    sums = rollup(warehouse)
    assert (sums["ebvs"], sums["ended_views"], sums["plays"], sums["attempts"]) == (0, 0, 1, 1)  # taken back


def test_a_view_evicted_from_memory_is_rebuilt_for_a_late_event(warehouse: Client) -> None:
    script = watched_view(recent_t0())
    batches = split(script.events, [6, 2])
    records = [record(b, "v-evict", batch_seq=i) for i, b in enumerate(batches)]
    sessionizer = Sessionizer(ViewStore(warehouse), SessionizerConfig(evict_after_s=0))
    sessionizer.ingest(records[0], 0)
    sessionizer.ingest(records[2], 0)  # view_end
    sessionizer.flush()  # writes the closed view, then evicts it (evict_after_s=0)
    RawEventSink(warehouse, "c/beacons").write([SourceRecord(0, 0, records[0]), SourceRecord(0, 2, records[2])])
    assert not sessionizer.sessions
    sessionizer.ingest(records[1], 0)  # the pause and resume, after the view left memory
    sessionizer.flush()
    assert sessionizer.stats.rebuilt == 1
    assert_counted_once(warehouse, "v-evict")


def test_open_views_are_resumed_and_time_out_without_new_beacons(warehouse: Client) -> None:
    clock = Clock()
    registry = DictRegistry()
    script = Script(recent_t0()).at(0, "playback_request").at(500, "playback_start").at(10_500, "heartbeat")
    value = record(script.events, "v-resume", received_at=int(clock.now * 1000))
    first = Sessionizer(ViewStore(warehouse), registry=registry, clock=clock)
    first.ingest(value, 3)
    first.flush()
    RawEventSink(warehouse, "c/beacons").write([SourceRecord(3, 0, value)])
    assert registry.open == {"v-resume": (3, int(clock.now * 1000))}
    # A new worker takes partition 3 over; no beacon of the view ever arrives again.
    store = ViewStore(warehouse)
    second = Sessionizer(store, SessionizerConfig(inactivity_timeout_s=60), registry=registry, clock=clock)
    open_views = store.open_views(int(clock.now * 1000) - 60_000)
    assert [v for v, _ in open_views] == ["v-resume"]
    assert second.resume((v, 3, received) for v, received in open_views) == 1
    clock.now += 61
    second.flush()
    view = latest_view(warehouse, "v-resume")
    assert (view["closed"], view["exit_reason"], view["watch_ms"]) == (True, "timeout", 10_000)
    sums = rollup(warehouse)
    assert (sums["attempts"], sums["plays"], sums["ended_views"], sums["watch_ms"]) == (1, 1, 1, 10_000)
    assert registry.open == {}


def test_startup_time_enters_the_digest_only_once_it_can_no_longer_change(warehouse: Client) -> None:
    script = Script(recent_t0()).at(0, "playback_request").at(100, "player_resize", width=640, height=360)
    script.at(700, "playback_start").at(5700, "heartbeat")
    sessionizer = Sessionizer(ViewStore(warehouse))
    sessionizer.ingest(record([script.events[i] for i in (0, 2, 3)], "v-gap"), 0)  # seq 1 missing
    sessionizer.flush()
    assert rollup(warehouse)["vst_count"] == 1  # the sum is correctable...
    assert warehouse.query("SELECT count() FROM view_deltas WHERE vst_samples = 1").result_rows[0][0] == 0  # ...not
    sessionizer.ingest(record([script.events[1]], "v-gap", batch_seq=1), 0)
    sessionizer.flush()
    assert warehouse.query("SELECT sum(vst_samples), sum(vst_ms) FROM view_deltas").result_rows[0] == (1, 700.0)


def test_records_that_are_not_beacons_are_skipped(warehouse: Client) -> None:
    sessionizer = Sessionizer(ViewStore(warehouse))
    assert not sessionizer.ingest(b'{"server": {}, "beacon": 3}', 0)
    assert not sessionizer.ingest(b"not json", 0)
    assert sessionizer.stats.bad_records == 2 and not sessionizer.flush()
