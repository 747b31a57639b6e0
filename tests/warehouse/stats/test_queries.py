"""The read model over random traffic: ratios in range, breakdowns that add up to the overview,
rollups that agree with the views they come from."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from tests.factories.sessions import view_events
from tests.factories.views import MINUTE_MS, Script, record
from warehouse import views as view_reads
from warehouse.stats import queries
from warehouse.stats.queries import Filters, StatsQueryError, Window

_example = itertools.count()
ADDITIVE = ("attempts", "plays", "ended_views", "events", "short_exits")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def t0() -> int:
    return (int(time.time() * 1000) // MINUTE_MS - 20) * MINUTE_MS


@st.composite
def traffic(draw: st.DrawFn) -> tuple[str, list[tuple[bytes, int]]]:
    """Beacon records of a few random views, cut at random, shuffled, some sent twice."""
    player = f"player-{next(_example)}"
    start = t0()
    records: list[bytes] = []
    for v in range(draw(st.integers(1, 6))):
        events = draw(view_events(start + draw(st.integers(0, 5 * MINUTE_MS))))
        cdn, country = draw(st.sampled_from(["cdn-a", "cdn-b", "cdn-c"])), draw(st.sampled_from(["NO", "SE"]))
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=3)))
        for i, (lo, hi) in enumerate(itertools.pairwise([0, *cuts, len(events)])):
            if events[lo:hi]:
                server = {"country": country}
                view_id = f"{player}-v{v}"
                records.append(record(events[lo:hi], view_id, batch_seq=i, server=server, cdn=cdn, player_name=player))
    rng = random.Random(draw(st.integers(0, 2**16)))
    records += rng.sample(records, rng.randint(0, min(2, len(records))))  # retried beacons
    rng.shuffle(records)
    flush_after = draw(st.sets(st.integers(0, len(records)), max_size=3))
    return player, [(value, int(i in flush_after)) for i, value in enumerate(records)]


def feed(client: Client, beacons: list[tuple[bytes, int]]) -> None:
    clock = Clock()
    sessionizer = Sessionizer(ViewStore(client), SessionizerConfig(inactivity_timeout_s=60), clock=clock)
    for value, flush in beacons:
        sessionizer.ingest(value, 0)
        if flush:
            sessionizer.flush()
    clock.now += 120  # every view left open times out
    sessionizer.flush()


def views_of(client: Client, player: str) -> list[dict[str, Any]]:
    result = client.query("SELECT * FROM views FINAL WHERE player_name = {p:String}", parameters={"p": player})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traffic())
def test_metrics_stay_in_range_and_breakdowns_add_up(
    warehouse: Client, example: tuple[str, list[tuple[bytes, int]]]
) -> None:
    player, beacons = example
    feed(warehouse, beacons)
    window = Window.last(60)
    only = Filters({"player": player})
    total = queries.overview(warehouse, window, only)
    for name in ("ebvs_pct", "vsf_pct", "vpf_pct", "vsf_business_pct", "vpf_business_pct", "dropped_frames_pct"):
        assert total[name] is None or 0 <= total[name] <= 100, name
    assert total["rebuffer_ratio"] is None or 0 <= total["rebuffer_ratio"] <= 1
    assert total["qoe_score"] is None or 0 <= total["qoe_score"] <= 100
    # The rollups hold each view once, with its final figures.
    views = views_of(warehouse, player)
    assert total["attempts"] == sum(v["attempt"] for v in views)
    assert total["plays"] == sum(v["played"] for v in views)
    assert total["ended_views"] == len(views) == sum(v["closed"] for v in views)
    assert total["watch_minutes"] == pytest.approx(sum(v["watch_ms"] for v in views) / 60_000)
    stalled = sum(v["stall_ms"] for v in views)
    assert stalled <= sum(v["watch_ms"] for v in views)
    assert total["stall_seconds_per_view"] == pytest.approx(stalled / 1000 / len(views))
    # Breakdowns (one filter: the cube) add up to the overview (one filter: the per-dimension rollup).
    for dimension in ("cdn", "country", "title", "asn"):
        rows = queries.breakdown(warehouse, window, dimension, only)
        for name in ADDITIVE:
            assert sum(r[name] for r in rows) == total[name], (dimension, name)
        watch = sum(r["watch_minutes"] for r in rows)
        assert watch == pytest.approx(total["watch_minutes"])
        assert max((r["concurrent_viewers"] for r in rows), default=0) <= total["concurrent_viewers"]
        assert total["concurrent_viewers"] <= sum(r["concurrent_viewers"] for r in rows)


def test_filters_pick_the_matching_views_on_every_path(warehouse: Client) -> None:
    start = t0()
    clock = Clock()
    sessionizer = Sessionizer(ViewStore(warehouse), clock=clock)
    for i, (cdn, country) in enumerate([("cdn-a", "NO"), ("cdn-a", "SE"), ("cdn-b", "NO")]):
        script = Script(start + i * 1000).at(0, "playback_request").at(600, "playback_start").at(60_600, "view_end")
        sessionizer.ingest(record(script.events, f"f{i}", server={"country": country}, cdn=cdn), 0)
    sessionizer.flush()
    window = Window.last(60)

    def attempts(**filters: str) -> int:
        return int(queries.overview(warehouse, window, Filters(filters))["attempts"] or 0)

    assert attempts() == 3
    assert attempts(cdn="cdn-a") == 2  # per-dimension rollup
    assert attempts(cdn="cdn-a", country="NO") == 1  # cube
    assert attempts(cdn="cdn-b", country="SE") == 0
    assert attempts(asn="64500", stream_type="vod") == 3
    assert queries.dimension_values(warehouse, window, "cdn") == ["cdn-a", "cdn-b"]  # most attempts first
    norway = queries.breakdown(warehouse, window, "cdn", Filters({"country": "NO"}))
    by_cdn = {r["value"]: r["attempts"] for r in norway}
    assert by_cdn == {"cdn-a": 1, "cdn-b": 1}
    points = queries.timeseries(warehouse, window, "watch_minutes", "5m")
    assert len(points) == 12 and sum(p["value"] for p in points) == pytest.approx(3.0)  # 3 × 60 s
    assert sum(b["views"] for b in view_reads.vst_histogram(warehouse, window)) == 3
    assert view_reads.vst_histogram(warehouse, window)[2] == {"from_ms": 500.0, "to_ms": 750.0, "views": 3}  # VST 600
    peak = max(p["value"] for p in queries.timeseries(warehouse, window, "concurrent_viewers", "1m"))
    assert peak == 3  # the three views overlap for 58 s


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, w: queries.breakdown(c, w, "planet"), "unknown dimension 'planet'"),
        (lambda c, w: queries.timeseries(c, w, "happiness", "1m"), "unknown metric 'happiness'"),
        (lambda c, w: queries.timeseries(c, w, "plays", "2m"), "unknown step '2m'"),
        (lambda c, w: queries.timeseries(c, Window.last(7), "plays", "5m"), "must be a multiple"),
        (lambda c, w: queries.overview(c, w, Filters({"planet": "mars"})), "unknown filter 'planet'"),
        (lambda c, w: queries.overview(c, w, Filters({"asn": "AS12"})), "asn must be a number"),
        (lambda c, w: Window.last(0), "minutes must be between"),
    ],
)
def test_bad_requests_say_what_is_allowed(warehouse: Client, call: Any, message: str) -> None:
    with pytest.raises(StatsQueryError, match=message):
        call(warehouse, Window.last(60))


def test_long_windows_read_whole_hours_from_the_hourly_rollup_and_agree_with_the_minutes(warehouse: Client) -> None:
    now_minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    sessionizer = Sessionizer(ViewStore(warehouse))
    for i in range(12):  # one view every quarter of an hour over the last three hours
        start = now_minute - (175 - 15 * i) * MINUTE_MS
        script = Script(start).at(0, "playback_request").at(400 + 100 * i, "playback_start").at(90_000, "view_end")
        sessionizer.ingest(record(script.events, f"hourly-{i}", cdn=f"cdn-{i % 2}"), 0)
    sessionizer.flush()
    hours = warehouse.query("SELECT count() FROM qoe_hour WHERE dimension = 'all'").result_rows[0][0]
    assert hours >= 3
    window = Window.last(240)
    total = queries.overview(warehouse, window)  # whole hours from qoe_hour, the ends from qoe_minute
    per_minute = queries.timeseries(warehouse, window, "attempts", "1m")  # qoe_minute only
    assert total["attempts"] == sum(p["value"] for p in per_minute) == 12
    watch = queries.timeseries(warehouse, window, "watch_minutes", "1m")
    # Σ (90000 − (400 + 100·i)) for i < 12 = 1 080 000 − 4 800 − 6 600 = 1 068 600 ms
    assert total["watch_minutes"] == pytest.approx(sum(p["value"] for p in watch)) == pytest.approx(1_068_600 / 60_000)
    hourly = queries.timeseries(warehouse, window, "attempts", "1h")
    assert sum(p["value"] for p in hourly) == 12
    assert total["vst_p50_ms"] == pytest.approx(950, abs=60)  # startup times 400 … 1500 ms
    by_cdn = queries.breakdown(warehouse, window, "cdn")
    assert {r["value"]: r["attempts"] for r in by_cdn} == {"cdn-0": 6, "cdn-1": 6}
