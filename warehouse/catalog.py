"""The title catalogue. Owns ``catalog_titles`` and ``catalog_loads``.

The one writer is ``recommender.catalog.ensure_catalog`` through :func:`insert_catalog` and
:func:`record_catalog_load`. A reload inserts every title again with a newer version; reads take
the latest with FINAL (the table is small).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

_TITLE_COLUMNS = "title_id, title, year, genres, duration_ms, imdb_id, tmdb_id"
_INSERT_ROWS = 50_000


def latest_catalog_checksum(client: Client) -> str | None:
    rows = client.query("SELECT checksum FROM catalog_loads ORDER BY loaded_at DESC LIMIT 1").result_rows
    return str(rows[0][0]) if rows else None


def insert_catalog(client: Client, frame: pd.DataFrame, version: int) -> None:
    """The titles of ``frame`` (the columns of ``recommender.catalog.CATALOG_COLUMNS``) at ``version``."""
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
    for start in range(0, len(rows), _INSERT_ROWS):
        client.insert("catalog_titles", rows[start : start + _INSERT_ROWS], column_names=names)


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
