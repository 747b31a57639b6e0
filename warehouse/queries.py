"""The read model over raw events: one query layer for the APIs and the dashboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def events_per_minute(client: Client, minutes: int) -> pd.DataFrame:
    """Events received per minute and type over the last ``minutes``."""
    frame = client.query_df(
        "SELECT minute, type, sum(events) AS events FROM events_per_minute "
        "WHERE minute >= toStartOfMinute(now() - toIntervalMinute({minutes:UInt32})) "
        "GROUP BY minute, type ORDER BY minute, type",
        parameters={"minutes": minutes},
    )
    return _utc(frame, "minute")


def active_views_by_cdn(client: Client, minutes: int) -> pd.DataFrame:
    """Views that sent anything in each minute, by CDN."""
    frame = client.query_df(
        "SELECT toStartOfMinute(received_at) AS minute, cdn, uniqExact(view_id) AS views FROM beacon_events "
        "WHERE received_at >= toStartOfMinute(now() - toIntervalMinute({minutes:UInt32})) "
        "GROUP BY minute, cdn ORDER BY minute, cdn",
        parameters={"minutes": minutes},
    )
    return _utc(frame, "minute")


def event_summary(client: Client, minutes: int | None = None) -> dict[str, Any]:
    """Rows stored, distinct events among them, and the newest receive time: the pipeline's pulse."""
    where = "WHERE received_at >= now() - toIntervalMinute({minutes:UInt32})" if minutes else ""
    rows, distinct, views, newest = client.query(
        f"SELECT count(), uniqExact(view_id, seq), uniqExact(view_id), max(received_at) FROM beacon_events {where}",
        parameters={"minutes": minutes or 0},
    ).result_rows[0]
    return {
        "rows": int(rows),
        "distinct_events": int(distinct),
        "views": int(views),
        "newest_received_at": newest.replace(tzinfo=UTC) if rows else None,
        "as_of": datetime.now(UTC),
    }


def view_events(client: Client, view_id: str, limit: int = 5000) -> pd.DataFrame:
    """One view's events in sequence order, duplicates folded."""
    frame = client.query_df(
        "SELECT seq, ts, received_at, type, playhead_ms, attrs, cdn FROM beacon_events FINAL "
        "WHERE view_id = {view_id:String} ORDER BY seq LIMIT {limit:UInt32}",
        parameters={"view_id": view_id, "limit": limit},
    )
    return _utc(frame, "ts", "received_at")
