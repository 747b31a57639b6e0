"""Every SQL statement of the recommender, in one place: the catalogue and the reads of ``views``.

``views`` is the sessionizer's table (streams/migrations/0002_views.sql): one row per view and
flush, the latest ``version`` being the view's state. Reads here take each view's latest state
with ``argMax(…, version)`` grouped by ``view_id``, as the Stats API does, and return the columns
of :data:`VIEW_FIELDS` under the same names, so :mod:`recommender.feedback` reads one shape
whether the frame came from the warehouse or from the simulator (:mod:`evaluation.recommender.online`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

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
    fields = ", ".join(f"argMax({name}, version) AS {name}" for name in VIEW_FIELDS)
    at = "toUnixTimestamp64Milli(argMax(coalesce(requested_at, first_seen_at), version)) AS at_ms"
    # The filter runs in a subquery: in ClickHouse an alias such as ``argMax(viewer_id, version) AS
    # viewer_id`` would otherwise shadow the column in a WHERE of the same SELECT.
    columns = ", ".join(("view_id", "version", "requested_at", "first_seen_at", *VIEW_FIELDS))
    return f"SELECT view_id, {at}, {fields} FROM (SELECT {columns} FROM views WHERE {where}) GROUP BY view_id"


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


# --- catalogue ------------------------------------------------------------------------------
_TITLE_COLUMNS = "title_id, title, year, genres, duration_ms, imdb_id, tmdb_id"


def latest_catalog_checksum(client: Client) -> str | None:
    rows = client.query("SELECT checksum FROM catalog_loads ORDER BY loaded_at DESC LIMIT 1").result_rows
    return str(rows[0][0]) if rows else None


def insert_catalog(client: Client, frame: pd.DataFrame, version: int) -> None:
    rows = [
        [
            row["title_id"],
            row["title"],
            row["source_title"],
            _optional_int(row["year"]),
            list(row["genres"]),
            _optional_int(row["duration_ms"]),
            _optional_int(row["movielens_id"]),
            row["imdb_id"],
            _optional_int(row["tmdb_id"]),
            row["source"],
            version,
        ]
        for row in frame.to_dict(orient="records")
    ]
    names = [*frame.columns, "version"]
    for start in range(0, len(rows), 50_000):
        client.insert("catalog_titles", rows[start : start + 50_000], column_names=names)


def _optional_int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def record_catalog_load(client: Client, at: datetime, source: str, checksum: str, titles: int) -> None:
    client.insert(
        "catalog_loads", [[at, source, checksum, titles]], column_names=["loaded_at", "source", "checksum", "titles"]
    )


def _title_rows(client: Client, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def search_titles(client: Client, q: str, genre: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Titles whose name contains ``q`` (any case; '' for all) with ``genre`` ('' for any), names
    starting with ``q`` first, then by name; and how many match in all."""
    where = (
        "({q:String} = '' OR positionCaseInsensitiveUTF8(title, {q:String}) > 0 "
        "OR positionCaseInsensitiveUTF8(source_title, {q:String}) > 0) "
        "AND ({genre:String} = '' OR has(genres, {genre:String}))"
    )
    parameters: dict[str, Any] = {"q": q, "genre": genre, "limit": limit, "offset": offset}
    rows = _title_rows(
        client,
        f"SELECT {_TITLE_COLUMNS} FROM catalog_titles FINAL WHERE {where} "
        "ORDER BY positionCaseInsensitiveUTF8(title, {q:String}) != 1, lowerUTF8(title), title_id "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        parameters,
    )
    total = client.query(f"SELECT count() FROM catalog_titles FINAL WHERE {where}", parameters=parameters)
    return rows, int(total.result_rows[0][0])


def titles_by_id(client: Client, title_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(title_ids))
    if not wanted:
        return {}
    rows = _title_rows(
        client,
        f"SELECT {_TITLE_COLUMNS} FROM catalog_titles FINAL WHERE title_id IN {{ids:Array(String)}}",
        {"ids": wanted},
    )
    return {row["title_id"]: row for row in rows}


def catalog_genres(client: Client) -> list[tuple[str, int]]:
    """Every genre of the catalogue with its number of titles, most common first."""
    rows = client.query(
        "SELECT genre, count() AS titles FROM catalog_titles FINAL ARRAY JOIN genres AS genre "
        "GROUP BY genre ORDER BY titles DESC, genre"
    ).result_rows
    return [(str(genre), int(count)) for genre, count in rows]


def catalog_durations(client: Client, title_ids: Sequence[str] | None = None) -> dict[str, float]:
    """Runtime in ms of the titles whose runtime the catalogue knows."""
    where = "duration_ms IS NOT NULL" + (" AND title_id IN {ids:Array(String)}" if title_ids is not None else "")
    rows = client.query(
        f"SELECT title_id, duration_ms FROM catalog_titles FINAL WHERE {where}",
        parameters={"ids": list(title_ids)} if title_ids is not None else {},
    ).result_rows
    return {str(title): float(ms) for title, ms in rows}
