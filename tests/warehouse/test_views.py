"""Views (warehouse.views) on the real embedded engine: one definition of a view's latest state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from tests.factories.recommender import insert_views, view_row
from warehouse import interactions, views
from warehouse.stats.api import VIEW_FIELDS
from warehouse.stats.queries import Filters, Window

pytestmark = pytest.mark.integration


def test_the_column_list_is_the_tables_and_the_apis(warehouse: Client) -> None:
    rows = warehouse.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'views' ORDER BY position"
    ).result_rows
    assert tuple(name for (name,) in rows) == views.COLUMNS
    assert tuple(VIEW_FIELDS) == views.COLUMNS  # /v1/views/{view_id} documents every column


def a_view_whose_last_version_cleared_values(warehouse: Client) -> datetime:
    """Version 2 of one view has NULL where version 1 had values: the state is version 2, NULLs included."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    first = view_row("me", "t1", view_id="v", at=started, version=1, closed=False, vst_ms=800.0, qoe_score=70.0)
    last = view_row("me", "t2", view_id="v", at=started, version=2, closed=True, vst_ms=None, qoe_score=None)
    insert_views(warehouse, [last, first])
    return started


def test_every_reader_sees_the_highest_version_whole(warehouse: Client) -> None:
    started = a_view_whose_last_version_cleared_values(warehouse)
    found = views.view(warehouse, "v")
    assert found is not None
    assert (found["version"], found["title_id"], found["closed"], found["vst_ms"], found["qoe_score"]) == (
        2,
        "t2",
        True,
        None,
        None,
    )
    state = views.latest_states(warehouse, ["v"], ["title_id"])
    assert [(row[0], row[1], row[5], row[6]) for row in state] == [("v", 2, True, "t2")]
    mine = interactions.viewer_views(warehouse, "me", 5)
    assert mine["title_id"].tolist() == ["t2"] and mine["vst_ms"].isna().all()
    window = Window.last(60)
    assert [(r["view_id"], r["title"], r["qoe_score"]) for r in views.recent_views(warehouse, window)] == [
        ("v", "t2", None)
    ]
    assert sum(b["views"] for b in views.vst_histogram(warehouse, window)) == 0
    assert views.open_views(warehouse, int(started.timestamp() * 1000)) == []


def test_filters_and_open_views(warehouse: Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    insert_views(
        warehouse,
        [
            view_row("a", "t1", view_id="no", at=now - timedelta(minutes=5), country="NO", vst_ms=600.0),
            view_row("b", "t1", view_id="se", at=now - timedelta(minutes=5), country="SE", vst_ms=900.0, closed=False),
        ],
    )
    window = Window.last(60)
    assert [r["view_id"] for r in views.recent_views(warehouse, window, Filters({"country": "SE"}))] == ["se"]
    bins = views.vst_histogram(warehouse, window, Filters({"country": "NO"}))
    assert [b["from_ms"] for b in bins if b["views"]] == [500.0]
    since = int((now - timedelta(hours=1)).timestamp() * 1000)
    assert [view_id for view_id, _ in views.open_views(warehouse, since)] == ["se"]


def test_unknown_views_read_as_nothing(warehouse: Client) -> None:
    window = Window.last(60)
    assert views.view(warehouse, "nobody") is None
    assert views.latest_states(warehouse, ["nobody"], ["title_id"]) == []
    assert views.latest_states(warehouse, [], ["title_id"]) == []
    assert views.delta_sums(warehouse, ["nobody"]) == []
    assert views.open_views(warehouse, 0) == []
    assert views.recent_views(warehouse, window) == []
    assert sum(b["views"] for b in views.vst_histogram(warehouse, window)) == 0
    assert interactions.viewer_views(warehouse, "nobody", 5).empty
