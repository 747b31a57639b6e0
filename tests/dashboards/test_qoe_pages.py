"""The QoE overview and view explorer pages, rendered from the real embedded warehouse."""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from dashboards.app import create_dashboards
from dashboards.data import DashboardData
from dashboards.pages import qoe, views
from foundation.settings import Settings
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.dashboards import add_user, signed_in_client
from tests.factories.views import MINUTE_MS, Script, record


def fill(client: Client) -> None:
    t0 = (int(time.time() * 1000) // MINUTE_MS - 2) * MINUTE_MS
    records = []
    for i, cdn in enumerate(["cdn-a", "cdn-a", "cdn-b"]):
        script = Script(t0 + i * 500).at(0, "playback_request").at(900 + 300 * i, "playback_start")
        script.at(20_000, "rendition_change", bitrate_kbps=1500).at(40_000, "view_end")
        records.append(record(script.events, f"dash-{i}", cdn=cdn))
    RawEventSink(client, "c/beacons").write([SourceRecord(0, i, r) for i, r in enumerate(records)])
    sessionizer = Sessionizer(ViewStore(client))
    for value in records:
        sessionizer.ingest(value, 0)
    sessionizer.flush()


def test_the_overview_page_shows_tiles_series_histogram_and_breakdown(warehouse: Client) -> None:
    fill(warehouse)
    tiles, series, histogram, rows, options = qoe.render(warehouse, 60, {}, "plays", "cdn")
    assert len(tiles) == len(qoe.TILES) and tiles[0].children[0].children == "3"  # attempts
    assert sum(y for y in series.data[0].y if y) == 3
    assert sum(histogram.data[0].y) == 3
    assert [(r["value"], r["attempts"]) for r in rows] == [("cdn-a", 2), ("cdn-b", 1)]
    assert options["cdn"] == ["cdn-a", "cdn-b"]
    filtered = qoe.render(warehouse, 60, {"cdn": "cdn-b"}, "plays", "country")
    assert [(r["value"], r["attempts"]) for r in filtered[3]] == [("NO", 1)]


def test_the_view_explorer_shows_a_view_and_its_timeline(warehouse: Client) -> None:
    fill(warehouse)
    summary, timeline, events, recent = views.render(warehouse, "dash-1")
    assert "dash-1" in str(summary) and "1,200 ms" in str(summary)  # VST 900 + 300
    assert [e["type"] for e in events] == ["playback_request", "playback_start", "rendition_change", "view_end"]
    assert events[2]["details"] == "bitrate_kbps=1500"
    assert list(timeline.data[1].text) == [e["type"] for e in events]
    assert str(recent).count("view_id=dash-") == 3  # lowest score first
    assert str(recent).index("dash-2") < str(recent).index("dash-0")  # slower startup, lower score
    missing, *_ = views.render(warehouse, "nobody")
    assert "No view 'nobody'" in str(missing)


def test_the_pages_are_registered_and_served(settings: Settings, warehouse: Client) -> None:
    app = create_dashboards(DashboardData(settings, lambda: warehouse))
    client = app.server.test_client()
    assert client.get(qoe.PATH).status_code == 401
    signed_in_client(client, "viewer", add_user(warehouse, "viewer"))
    for path in (qoe.PATH, views.PATH):
        assert client.get(path).status_code == 200
    outputs = " ".join(app.callback_map)
    assert "qoe-tiles.children" in outputs and "views-summary.children" in outputs
