"""The recommender's interactions: the views it learns from and serves with. Owns no table.

Reads the latest state of each view (:func:`warehouse.views.latest_sql`) and returns the columns of
:data:`VIEW_FIELDS` under the same names, so ``recommender.feedback`` reads one shape whether the
frame came from the warehouse or from the simulator (``evaluation.recommender.online`` builds it
with :func:`typed_views`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.views import latest_sql

# views columns the recommender reads, with the pandas dtype each gets.
VIEW_FIELDS: dict[str, str] = {
    "viewer_id": "string",
    "title_id": "string",
    "country": "string",
    "region": "string",
    "device_type": "string",
    "attempt": "bool",
    "played": "bool",
    "closed": "bool",
    "short_exit": "bool",
    "ebvs": "bool",
    "vsf": "bool",
    "vsf_business": "bool",
    "vpf": "bool",
    "vpf_business": "bool",
    "exit_reason": "string",
    "watch_ms": "float64",
    "playing_ms": "float64",
    "stall_ms": "float64",
    "stall_count": "int64",
    "rebuffer_ratio": "float64",
    "vst_ms": "float64",
}
VOD = "vod"
_VIEWER_VOD = "viewer_id = {viewer:String} AND stream_type = {vod:String}"
_RECENT_VOD = "first_seen_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC') AND stream_type = {vod:String}"


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return int(at.timestamp() * 1000)


def _latest_views(where: str) -> str:
    """Each view's latest state, as ``view_id``, ``at_ms`` (play intent, else first sight) and VIEW_FIELDS."""
    at = "toUnixTimestamp64Milli(coalesce(requested_at, first_seen_at)) AS at_ms"
    return latest_sql(f"{at}, {', '.join(VIEW_FIELDS)}", where)


def _views_frame(client: Client, sql: str, parameters: dict[str, Any]) -> pd.DataFrame:
    result = client.query(sql, parameters=parameters)
    frame = pd.DataFrame(result.result_rows, columns=list(result.column_names))
    return typed_views(frame)


def typed_views(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with VIEW_FIELDS in their dtypes and ``at`` (UTC datetime) from ``at_ms``."""
    columns: dict[str, Any] = {"view_id": frame.get("view_id", pd.Series(dtype="string")).astype("string")}
    at_ms = frame["at_ms"] if "at_ms" in frame else pd.Series(np.zeros(len(frame), np.int64))
    columns["at"] = pd.to_datetime(at_ms.astype("int64"), unit="ms", utc=True)
    for name, dtype in VIEW_FIELDS.items():
        values = frame[name] if name in frame else pd.Series([None] * len(frame), dtype="object")
        if dtype == "float64":
            columns[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif dtype == "int64":
            columns[name] = pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")
        elif dtype == "bool":
            columns[name] = values.fillna(False).astype(bool)
        else:
            columns[name] = values.fillna("").astype("string")
    return pd.DataFrame(columns, index=frame.index).reset_index(drop=True)


def training_views(client: Client, since: datetime) -> pd.DataFrame:
    """Closed VOD views with a title, first seen at or after ``since``: the training data."""
    sql = (
        f"SELECT * FROM ({_latest_views(_RECENT_VOD)}) "
        "WHERE closed AND title_id != '' ORDER BY viewer_id, at_ms, view_id"
    )
    return _views_frame(client, sql, {"since_ms": _ms(since), "vod": VOD})


def viewer_views(client: Client, viewer_id: str, limit: int) -> pd.DataFrame:
    """The newest ``limit`` VOD views of one viewer (open ones too), oldest first."""
    sql = (
        f"SELECT * FROM ({_latest_views(_VIEWER_VOD)}) "
        "WHERE title_id != '' ORDER BY at_ms DESC, view_id LIMIT {limit:UInt32}"
    )
    frame = _views_frame(client, sql, {"viewer": viewer_id, "vod": VOD, "limit": limit})
    return frame.iloc[::-1].reset_index(drop=True)


def demand_by_segment(client: Client, since: datetime) -> pd.DataFrame:
    """Distinct viewers per (title, country, region, device type) who asked to play a VOD title
    (a play intent, not a sub-second short exit) in views first seen since ``since``."""
    latest = _latest_views(_RECENT_VOD)
    result = client.query(
        f"SELECT title_id, country, region, device_type, uniqExact(viewer_id) AS viewers FROM ({latest}) "
        "WHERE attempt AND NOT short_exit AND title_id != '' GROUP BY title_id, country, region, device_type",
        parameters={"since_ms": _ms(since), "vod": VOD},
    )
    frame = pd.DataFrame(result.result_rows, columns=["title_id", "country", "region", "device_type", "viewers"])
    return frame.astype({"title_id": "string", "country": "string", "region": "string", "device_type": "string"})


def closed_view_count(client: Client, since: datetime) -> int:
    """Closed VOD views since ``since``: what tells the retrainer whether anything new arrived."""
    rows = client.query(
        f"SELECT count() FROM ({_latest_views(_RECENT_VOD)}) WHERE closed AND title_id != ''",
        parameters={"since_ms": _ms(since), "vod": VOD},
    ).result_rows
    return int(rows[0][0]) if rows else 0
