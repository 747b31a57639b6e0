"""Beacons over HTTP → Kafka (real Tansu) → sessionizer (Faust) → ClickHouse (chDB) → Stats API.

Counts are checked end to end, never by reading consumer lag (REFERENCE §8).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from foundation.stack import LocalStack
from tests.factories.beacons import beacon
from tests.factories.views import Script
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration


def overview(client: httpx.Client, **filters: str) -> dict[str, Any]:
    response = client.get("/v1/stats/overview", params={"minutes": 15, **filters})
    if response.status_code != 200:
        return {}
    body: dict[str, Any] = response.json()
    return body


def settled(client: httpx.Client, key: str, expected: int, timeout_s: float = 60, **filters: str) -> dict[str, Any]:
    wait_for(lambda: overview(client, **filters).get(key) == expected, timeout_s, f"{key} = {expected}")
    time.sleep(2.0)  # anything more would be double counting: give it time to show
    return overview(client, **filters)


def post(client: httpx.Client, view_id: str, events: list[dict[str, Any]], batch_seq: int, title: str) -> None:
    body = beacon(events, view_id=view_id, batch_seq=batch_seq, title_id=title)
    response = client.post("/v1/beacons", json=body)
    assert response.status_code == 202, response.text


def test_outcomes_through_the_pipeline_and_one_view_with_its_timeline(stack: LocalStack) -> None:
    t0 = int(time.time() * 1000) - 60_000
    views = {
        "ok": Script(t0).at(0, "playback_request").at(800, "playback_start").at(20_800, "view_end"),
        "ebvs": Script(t0).at(0, "playback_request").at(5000, "view_end"),
        "short": Script(t0).at(0, "playback_request").at(400, "view_end"),
        "vsf": Script(t0).at(0, "playback_request").at(2000, "error", code="DRM", fatal=True).at(2100, "view_end"),
        "geo": Script(t0).at(0, "playback_request").at(300, "error", code="GEO", fatal=True, business=True),
        "vpf": Script(t0).at(0, "playback_request").at(1200, "playback_start").at(9200, "error", code="X", fatal=True),
    }
    title = f"outcomes-{t0}"
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        for name, script in views.items():
            post(client, f"{title}-{name}", script.events, 0, title)
        body = settled(client, "attempts", 6, title=title)
        assert body["plays"] == 2  # ok, vpf
        assert body["ebvs_pct"] == pytest.approx(100 / 6)  # ebvs only: short exits (400 ms) are not counted
        assert body["vsf_pct"] == pytest.approx(100 / 6)  # the DRM failure; the geo-block is a business failure
        assert body["vsf_business_pct"] == pytest.approx(100 / 6)
        assert body["vpf_pct"] == 50  # 1 of 2 plays
        assert body["vst_p50_ms"] == pytest.approx(1000, abs=200)  # 800 and 1200
        one = client.get(f"/v1/views/{title}-ok").json()
        assert (one["view"]["watch_ms"], one["view"]["vst_ms"], one["view"]["closed"]) == (20_000, 800, True)
        assert [e["type"] for e in one["events"]] == ["playback_request", "playback_start", "view_end"]
        assert client.get(f"/v1/views/{title}-nobody").status_code == 404


def test_a_killed_worker_loses_no_view_and_counts_none_twice(stack: LocalStack) -> None:
    """Views are open when the worker is SIGKILLed; beacons keep coming while it is down."""
    t0 = int(time.time() * 1000) - 40_000
    title = f"restart-{t0}"
    first, late = [f"{title}-a{i}" for i in range(30)], [f"{title}-b{i}" for i in range(10)]
    stalled = set(first[:15])

    def script(view_id: str) -> Script:
        s = Script(t0).at(0, "playback_request").at(50, "rendition_change", bitrate_kbps=2000)
        s.at(1000, "playback_start").at(10_000, "heartbeat")
        if view_id in stalled:
            s.at(15_000, "stall_start").at(17_000, "stall_end")
        return s.at(20_000, "heartbeat").at(30_000, "view_end")

    scripts = {v: script(v).events for v in first + late}
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        for view_id in first:
            post(client, view_id, scripts[view_id][:4], 0, title)
        wait_for(lambda: overview(client, title=title).get("plays") == 30, 60, "30 open views")
        stack.kill_worker()
        for view_id in first:  # the middle of the views, while no worker runs
            post(client, view_id, scripts[view_id][4:-1], 1, title)
        for view_id in late:
            post(client, view_id, scripts[view_id][:-1], 0, title)
        stack.start_worker()
        for view_id in first + late:
            post(client, view_id, scripts[view_id][-1:], 2, title)
        body = settled(client, "ended_views", 40, timeout_s=90, title=title)
    events = sum(len(e) for e in scripts.values())
    assert (body["attempts"], body["plays"], body["ended_views"], body["events"]) == (40, 40, 40, events)
    # Each view watched 30000 − 1000 ms; 15 of them stalled 2000 ms once.
    assert body["watch_minutes"] == pytest.approx(40 * 29_000 / 60_000)
    assert body["rebuffer_ratio"] == pytest.approx(15 * 2000 / (40 * 29_000))
    assert body["stalls_per_view"] == pytest.approx(15 / 40)
    assert body["avg_bitrate_kbps"] == pytest.approx(2000)
    assert "rebuilt" in (stack.logs / "worker.log").read_text()  # the restart really rebuilt open views
