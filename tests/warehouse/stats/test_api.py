"""/v1/stats and /v1/views over HTTP (FastAPI's test client on the real embedded warehouse)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from foundation.settings import Settings
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.access import admin_api
from tests.factories.views import MINUTE_MS, Script, record
from warehouse.stats.metrics import HEADLINE

VIEW_CONTRACT = (
    "view_id",
    "viewer_id",
    "title_id",
    "cdn",
    "attempt",
    "played",
    "vst_ms",
    "watch_ms",
    "stall_count",
    "stall_ms",
    "rebuffer_ratio",
    "avg_bitrate_kbps",
    "upswitches",
    "downswitches",
    "ebvs",
    "vsf",
    "vpf",
    "exit_reason",
    "closed",
    "qoe_score",
)


@pytest.fixture
def api(settings: Settings, warehouse: Client) -> TestClient:
    """Two views: one played with a stall and a switch, one exited before start (hand-computed below)."""
    t0 = (int(time.time() * 1000) // MINUTE_MS - 3) * MINUTE_MS
    played = (
        Script(t0)
        .at(0, "playback_request")
        .at(50, "rendition_change", bitrate_kbps=1000, width=1280, height=720)
        .at(1500, "playback_start")
        .at(21_500, "stall_start")
        .at(23_500, "stall_end")
        .at(31_500, "rendition_change", bitrate_kbps=3000, width=1920, height=1080)
        .at(61_500, "view_end", reason="user_exit")
    )
    exited = Script(t0 + 5000).at(0, "playback_request").at(3000, "view_end", reason="user_exit")
    records = [record(played.events, "view-played", title_id="t-1"), record(exited.events, "view-exited", cdn="cdn-b")]
    RawEventSink(warehouse, "c/beacons").write([SourceRecord(0, i, r) for i, r in enumerate(records)])
    sessionizer = Sessionizer(ViewStore(warehouse))
    for value in records:
        sessionizer.ingest(value, 0)
    sessionizer.flush()
    return admin_api(settings, warehouse)


def get(api: TestClient, url: str, status: int = 200) -> Any:
    response = api.get(url)
    assert response.status_code == status, response.text
    return response.json()


def test_overview_answers_the_headline_metrics(api: TestClient) -> None:
    body = get(api, "/v1/stats/overview?minutes=15")
    assert list(body)[: len(HEADLINE)] == list(HEADLINE)
    assert (body["attempts"], body["plays"]) == (2, 1)
    assert body["vst_p50_ms"] == 1500  # 1500 − 0, the only view that started
    assert body["ebvs_pct"] == 50  # 1 exit before start (after 3 s) ÷ 2 attempts × 100
    assert (body["vsf_pct"], body["vpf_pct"]) == (0, 0)
    assert body["rebuffer_ratio"] == pytest.approx(2000 / 60_000)  # stall 2000 ÷ watch 61500 − 1500
    assert body["rebuffer_per_min"] == pytest.approx(1.0)  # 1 stall ÷ 1 watch minute
    # 1000 kbps for 20000 + 8000 ms around the stall, 3000 kbps for 30000 ms: 118 000 000 ÷ 58 000
    assert body["avg_bitrate_kbps"] == pytest.approx(2034.4827586)
    assert body["switches_per_min"] == pytest.approx(1.0)
    assert body["concurrent_viewers"] == 1
    assert 0 < body["qoe_score"] < 100
    assert body["filters"] == {} and body["window"]["minutes"] == 15


def test_breakdown_and_timeseries(api: TestClient) -> None:
    body = get(api, "/v1/stats/breakdown?dimension=cdn&minutes=15")
    assert [(r["value"], r["attempts"], r["plays"]) for r in body["rows"]] == [("cdn-a", 1, 1), ("cdn-b", 1, 0)]
    assert body["totals"]["attempts"] == 2
    filtered = get(api, "/v1/stats/breakdown?dimension=title&minutes=15&cdn=cdn-a&country=NO")
    assert [(r["value"], r["attempts"]) for r in filtered["rows"]] == [("t-1", 1)]
    series = get(api, "/v1/stats/timeseries?metric=attempts&step=1m&minutes=10")
    assert len(series["points"]) == 10 and sum(p["value"] for p in series["points"]) == 2
    assert series["unit"] == "views"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/v1/stats/overview?minutes=15&color=blue", "minutes"),
        ("/v1/stats/overview?minutes=zero", None),
        ("/v1/stats/overview?minutes=0", None),
        ("/v1/stats/breakdown?dimension=planet", "cdn"),
        ("/v1/stats/breakdown", None),
        ("/v1/stats/timeseries?metric=happiness", "attempts"),
        ("/v1/stats/timeseries?metric=plays&step=7m", "1m"),
        ("/v1/stats/overview?stream_type=radio", None),
        ("/v1/views/has%20space", None),
        ("/v1/views/view-played?verbose=1", None),
    ],
)
def test_bad_requests_are_400_with_what_is_allowed(api: TestClient, url: str, allowed: str | None) -> None:
    body = get(api, url, 400)
    assert body["detail"]
    if allowed is not None:
        assert allowed in str(body["detail"])


def test_one_view_with_its_timeline(api: TestClient) -> None:
    body = get(api, "/v1/views/view-played")
    view, events = body["view"], body["events"]
    assert set(VIEW_CONTRACT) <= set(view)
    assert (view["attempt"], view["played"], view["closed"], view["ebvs"], view["vsf"], view["vpf"]) == (
        True,
        True,
        True,
        False,
        False,
        False,
    )
    assert (view["vst_ms"], view["watch_ms"], view["stall_count"], view["stall_ms"]) == (1500, 60_000, 1, 2000)
    assert (view["upswitches"], view["downswitches"], view["exit_reason"]) == (1, 0, "user_exit")
    assert view["title_id"] == "t-1"
    assert [e["seq"] for e in events] == list(range(7))
    assert [e["type"] for e in events][:3] == ["playback_request", "rendition_change", "playback_start"]
    assert events[1]["bitrate_kbps"] == 1000 and events[1]["width"] == 1280
    assert all({"type", "seq", "ts", "playhead_ms", "server_time"} <= set(e) for e in events)
    exited = get(api, "/v1/views/view-exited")["view"]
    assert (exited["ebvs"], exited["played"], exited["vst_ms"], exited["qoe_score"]) == (True, False, None, 50.0)


def test_unknown_views_are_404_with_the_reason(api: TestClient, warehouse: Client) -> None:
    assert "no view 'nobody'" in get(api, "/v1/views/nobody", 404)["detail"]
    now = int(time.time() * 1000)
    pending = record(Script(now).at(0, "playback_request").events, "view-pending")
    RawEventSink(warehouse, "c/beacons").write([SourceRecord(1, 0, pending)])
    assert "not sessionized yet" in get(api, "/v1/views/view-pending", 404)["detail"]


def test_every_field_of_the_stats_schemas_is_described(api: TestClient) -> None:
    schemas = get(api, "/openapi.json")["components"]["schemas"]
    for name in ("Overview", "Breakdown", "BreakdownRow", "Timeseries", "Point", "ViewOut", "EventOut", "ViewDetail"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
    assert set(HEADLINE) <= set(schemas["Overview"]["properties"])
