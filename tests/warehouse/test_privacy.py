"""Erasure and retention (warehouse.privacy) on the real embedded engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from tests.factories.privacy import Viewing, rows_holding, store_viewing, tables_with_id_columns
from tests.factories.recommender import insert_views, view_row
from warehouse import events, interactions, privacy, views

pytestmark = pytest.mark.integration

X, Y = "viewer-x-3f9c", "viewer-y-81d2"
X_VIEWS = [Viewing(X, "view-x-finished", "ml-1"), Viewing(X, "view-x-left", "ml-2", exit_reason="user_exit")]
Y_VIEWS = [Viewing(Y, "view-y-finished", "ml-1")]
ERASED_TABLES = {"beacon_events", "views", "view_deltas"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def counts(client: Client, view_ids: list[str]) -> dict[str, int]:
    """Rows per table of these views."""
    found: dict[str, int] = {}
    for table in sorted(ERASED_TABLES):
        query = f"SELECT count() FROM {table} WHERE view_id IN {{ids:Array(String)}}"
        found[table] = int(client.query(query, parameters={"ids": view_ids}).result_rows[0][0])
    return found


def test_erasure_removes_the_viewer_from_every_table_and_keeps_everyone_else(warehouse: Client) -> None:
    store_viewing(warehouse, X_VIEWS + Y_VIEWS)
    x_ids, y_ids = [v.view_id for v in X_VIEWS], [v.view_id for v in Y_VIEWS]
    x_before, y_before = counts(warehouse, x_ids), counts(warehouse, y_ids)
    assert all(x_before.values()) and all(y_before.values())
    assert len(interactions.viewer_views(warehouse, X, 10)) == 2

    report = privacy.erase_viewer(warehouse, X, "test")

    assert report.rows_removed == x_before
    assert rows_holding(warehouse, [X, *x_ids]) == {}
    assert counts(warehouse, y_ids) == y_before
    assert events.view_events(warehouse, x_ids[0]).empty and views.view(warehouse, x_ids[0]) is None
    assert interactions.viewer_views(warehouse, X, 10).empty
    assert interactions.viewer_views(warehouse, Y, 10)["view_id"].tolist() == y_ids
    # The guard for tables to come: each one that can name a viewer or a view is erased.
    assert tables_with_id_columns(warehouse) == ERASED_TABLES


def test_the_log_names_the_viewer_by_a_hash_and_says_what_was_removed(warehouse: Client) -> None:
    store_viewing(warehouse, X_VIEWS)
    report = privacy.erase_viewer(warehouse, X, "ticket-42")
    again = privacy.erase_viewer(warehouse, X, "ticket-42")  # nothing left: nothing removed, still logged
    assert sum(again.rows_removed.values()) == 0
    logged = warehouse.query(
        "SELECT erasure_id, state, requested_by, rows_removed, finished_at IS NULL FROM privacy_erasures "
        "WHERE viewer_id_hash = {h:String} ORDER BY erased_at, state DESC",
        parameters={"h": privacy.viewer_hash(X)},
    ).result_rows
    assert [(row[0], row[1], row[2], row[4]) for row in logged] == [
        (report.erasure_id, "started", "ticket-42", True),
        (report.erasure_id, "done", "ticket-42", False),
        (again.erasure_id, "started", "ticket-42", True),
        (again.erasure_id, "done", "ticket-42", False),
    ]
    assert dict(logged[1][3]) == report.rows_removed
    assert rows_holding(warehouse, [X]) == {}  # the log holds the hash, never the id
    assert report.viewer_id_hash == privacy.viewer_hash(X) != privacy.viewer_hash(Y)


def test_a_view_open_in_memory_when_its_viewer_is_erased_is_not_written_back(warehouse: Client) -> None:
    clock = Clock()
    sessionizer = Sessionizer(ViewStore(warehouse), SessionizerConfig(inactivity_timeout_s=30), clock=clock)
    store_viewing(warehouse, [Viewing(X, "view-x-open", "ml-3", exit_reason=None)], sessionizer)
    assert views.view(warehouse, "view-x-open") is not None  # written while open
    privacy.erase_viewer(warehouse, X, "test")
    clock.now += 31  # it times out in memory: the flush would write it again, closed
    sessionizer.flush()
    assert rows_holding(warehouse, [X, "view-x-open"]) == {}
    # What the viewer watches after the erasure is new viewing, and is kept.
    store_viewing(warehouse, [Viewing(X, "view-x-after", "ml-4")], sessionizer)
    found = views.view(warehouse, "view-x-after")
    assert found is not None and found["viewer_id"] == X


def test_erasures_are_looked_up_by_viewer(warehouse: Client) -> None:
    assert privacy.erasures_of(warehouse, [X, Y]) == {}
    before = int(time.time() * 1000)
    privacy.erase_viewer(warehouse, X, "test")
    erased = privacy.erasures_of(warehouse, [X, Y, X])
    assert list(erased) == [X] and before <= erased[X] <= int(time.time() * 1000)


def test_views_expire_after_the_raw_retention(settings: Settings, warehouse: Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    days = settings.raw_retention_days
    old = view_row("someone", "t1", view_id="v-old", at=now - timedelta(days=days, hours=1))
    recent = view_row("someone", "t1", view_id="v-recent", at=now - timedelta(days=days - 1))
    insert_views(warehouse, [old, recent])
    warehouse.command("OPTIMIZE TABLE views FINAL")
    assert (views.view(warehouse, "v-old"), views.view(warehouse, "v-recent") is not None) == (None, True)
