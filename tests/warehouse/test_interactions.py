"""The recommender's reads of the sessionizer's ``views`` table (warehouse.interactions), on the real engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from recommender.feedback import assess
from recommender.serving import demand_from_views
from tests.factories.recommender import VIEW_EPOCH, clustered_views, insert_views, view_row, views_frame
from warehouse import interactions

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

pytestmark = pytest.mark.integration

SINCE = VIEW_EPOCH - timedelta(days=1)


def test_training_views_are_the_latest_state_of_closed_vod_views(warehouse: Client) -> None:
    open_then_closed = [
        view_row("a", "t1", view_id="v1", version=1, closed=False, playing_ms=1000.0, exit_reason=""),
        view_row("a", "t1", view_id="v1", version=2, closed=True, playing_ms=90_000.0, exit_reason="ended"),
    ]
    still_open = [view_row("a", "t2", view_id="v2", closed=False, exit_reason="")]
    live = [view_row("b", "live-news", view_id="v3", stream_type="live")]
    untitled = [view_row("b", "", view_id="v4")]
    old = [view_row("c", "t3", view_id="v5", at=SINCE - timedelta(hours=1))]
    insert_views(warehouse, open_then_closed + still_open + live + untitled + old)
    frame = interactions.training_views(warehouse, SINCE)
    assert frame["view_id"].tolist() == ["v1"]
    one = frame.iloc[0]
    assert (one["playing_ms"], one["exit_reason"], one["closed"]) == (90_000.0, "ended", True)
    assert one["at"] == pd.Timestamp(VIEW_EPOCH)
    assert interactions.closed_view_count(warehouse, SINCE) == 1


def test_the_warehouse_frame_equals_the_factory_frame(warehouse: Client) -> None:
    rows = clustered_views(viewers=6, per_viewer=3)
    rows[0].update(vpf=True, exit_reason="error", stall_ms=2000.0, stall_count=1)
    insert_views(warehouse, rows)
    stored = interactions.training_views(warehouse, SINCE).sort_values("view_id", ignore_index=True)
    built = views_frame(rows).sort_values("view_id", ignore_index=True)
    pd.testing.assert_frame_equal(stored, built)
    assert assess(stored)["weight"].tolist() == assess(built)["weight"].tolist()


def test_one_viewers_views_newest_last_open_ones_included(warehouse: Client) -> None:
    rows = [view_row("me", f"t{i}", at=VIEW_EPOCH + timedelta(hours=i)) for i in range(5)]
    rows.append(view_row("me", "t9", at=VIEW_EPOCH + timedelta(hours=9), closed=False, exit_reason=""))
    rows.append(view_row("someone-else", "t1"))
    insert_views(warehouse, rows)
    mine = interactions.viewer_views(warehouse, "me", limit=3)
    assert mine["title_id"].tolist() == ["t3", "t4", "t9"]
    assert interactions.viewer_views(warehouse, "nobody", limit=3).empty


def test_demand_in_the_warehouse_equals_demand_from_a_frame(warehouse: Client) -> None:
    rows = clustered_views(viewers=12, per_viewer=4)
    rows += [
        view_row("v0", rows[0]["title_id"], at=VIEW_EPOCH + timedelta(days=5)),  # the same viewer again
        view_row("x", "t-failed", vsf=True, played=False, playing_ms=0.0),
        view_row("y", "t-misclick", played=False, short_exit=True, playing_ms=0.0),
    ]
    insert_views(warehouse, rows)
    stored = interactions.demand_by_segment(warehouse, SINCE)
    built = demand_from_views(views_frame(rows))
    key = ["title_id", "country", "region", "device_type"]
    stored = stored.sort_values(key, ignore_index=True).astype({"viewers": "int64"})
    built = built.sort_values(key, ignore_index=True).astype({"viewers": "int64"})
    pd.testing.assert_frame_equal(stored, built, check_dtype=False)
    assert "t-failed" in set(stored["title_id"]) and "t-misclick" not in set(stored["title_id"])
    later = interactions.demand_by_segment(warehouse, VIEW_EPOCH + timedelta(days=3))
    assert later["viewers"].sum() == 1


def test_times_must_be_aware(warehouse: Client) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        interactions.training_views(warehouse, datetime(2026, 1, 1))
    assert interactions.training_views(warehouse, datetime(2026, 1, 1, tzinfo=UTC)).empty


def _granules(plan: list[str], index: str) -> tuple[int, int]:
    after = plan[next(i for i, line in enumerate(plan) if line.strip() == f"Name: {index}") :]
    selected, total = next(line for line in after if "Granules:" in line).split(":")[1].strip().split("/")
    return int(selected), int(total)


def test_one_viewers_read_skips_granules_through_the_bloom_index(warehouse: Client) -> None:
    warehouse.command(
        "INSERT INTO views (view_id, version, viewer_id, first_seen_at, last_received_at, stream_type, title_id) "
        "SELECT concat('view-', leftPad(toString(number), 8, '0')), 1, concat('viewer-', toString(number)), "
        "now64(3, 'UTC'), now64(3, 'UTC'), 'vod', 't1' FROM numbers(100000)"
    )
    plan = warehouse.query(
        "EXPLAIN indexes = 1 SELECT view_id FROM views WHERE viewer_id = {viewer:String} AND stream_type = 'vod'",
        parameters={"viewer": "viewer-77"},
    ).result_rows
    selected, total = _granules([row[0] for row in plan], "viewer_idx")
    assert total > 1
    assert selected < total
