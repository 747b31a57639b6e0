"""Views. Owns ``views`` (one row per view and flush) and ``view_deltas`` (what each flush changed).

The one writer is :func:`write_flush`, called by the sessionizer's store
(``streams.sessionizer.store``). Materialized views roll ``view_deltas`` up into ``qoe_minute``,
``qoe_minute_cube`` and ``qoe_hour``, which :mod:`warehouse.stats.queries` and
:mod:`warehouse.demand` read.

A view belongs to one property, its first beacon's (``property``; empty: the default property).
A view's state is its ``views`` row with the highest version. :func:`latest_sql` is the one
definition of it, and every read of ``views`` goes through it: the sessionizer rebuilding a view,
``/v1/views/{view_id}`` and the dashboards, the recommender (:mod:`warehouse.interactions`).

Erasure (:func:`erase_viewer`, run by :mod:`warehouse.privacy`) is the only statement that deletes
rows before their TTL. ``view_deltas`` has no viewer id: a viewer's deltas are those of the views
whose ``views`` rows name the viewer. The rollups hold sums per minute or hour and dimension value,
with no view or viewer id, and keep what an erased viewer added to them, as counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from clickhouse_connect.driver.client import Client

from schemas.view_facts import COLUMNS as FACT_COLUMNS
from warehouse.deletes import delete_rows
from warehouse.results import iso_ms
from warehouse.stats.queries import DIMENSIONS, Filters, Window

TABLE = "views"
DELTAS = "view_deltas"
# Every column of ``views``, in table order; a test checks them against the migrated table.
COLUMNS = (
    "view_id", "version", "viewer_id", "first_seen_at", "last_received_at", "clock_offset_ms", "requested_at",
    "started_at", "ended_at", "last_event_at", "closed", "exit_reason", "cdn", "first_cdn", "country", "region",
    "asn", "device_type", "os", "browser", "player_name", "player_version", "title_id", "title", "stream_type",
    "sdk_name", "sdk_version", "attempt", "played", "autoplay", "vst_ms", "watch_ms", "playing_ms", "stall_count",
    "stall_ms", "seek_count", "seek_ms", "pause_count", "rebuffer_ratio", "avg_bitrate_kbps", "top_bitrate_kbps",
    "avg_framerate", "upscale_pct", "max_upscale_pct", "avg_quality", "upswitches", "downswitches",
    "dropped_frames", "total_frames", "ebvs", "short_exit", "vsf", "vsf_business", "vpf", "vpf_business",
    "error_code", "warnings", "qoe_score", "score_success", "score_startup", "score_smoothness", "score_quality",
    "score_basis", "events", "max_seq", "property",
)  # fmt: skip
TIME_COLUMNS = ("first_seen_at", "last_received_at", "requested_at", "started_at", "ended_at", "last_event_at")
BOOL_COLUMNS = (
    "closed", "attempt", "played", "autoplay", "ebvs", "short_exit", "vsf", "vsf_business", "vpf", "vpf_business",
)  # fmt: skip
_INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


def latest_sql(columns: str, where: str) -> str:
    """``view_id`` and ``columns`` (names, or expressions over one row) of each view's latest state,
    among its ``views`` rows that match ``where``.

    The state is the whole row with the highest version. Neither per-column argMax, which skips
    NULLs and so mixes an older row's values in, nor one argMax of a tuple, which reads every
    column it holds and was several times slower on long scans. ``LIMIT 1 BY`` reads the table in
    its ``view_id`` order. ClickHouse lets ``where`` see the aliases of ``columns``: an alias must
    not reuse the name of a column ``where`` reads.
    """
    return f"SELECT view_id, {columns} FROM {TABLE} WHERE {where} ORDER BY view_id, version DESC LIMIT 1 BY view_id"


# --- the sessionizer: the writer, and its reads to rebuild a view ---------------------------
def write_flush(client: Client, views: list[dict[str, Any]], deltas: list[dict[str, Any]], token: str) -> None:
    """Views first, then deltas; a retry with the same token is dropped by ClickHouse.

    ``views`` goes first: a view without a ``views`` row has no deltas either, which is what lets
    a restarted sessionizer treat a view it cannot find as new.
    """
    insert_flush(client, [encode_row(row) for row in views], [encode_row(row) for row in deltas], token)


def encode_row(row: dict[str, Any]) -> bytes:
    """A ``views`` or ``view_deltas`` row as a JSONEachRow line; a TypeError (orjson's
    JSONEncodeError) when a value cannot be encoded, such as an integer beyond 64 bits."""
    return orjson.dumps(row)


def insert_flush(client: Client, view_lines: Sequence[bytes], delta_lines: Sequence[bytes], token: str) -> None:
    """:func:`write_flush` of rows already encoded (:func:`encode_row`), so a caller can refuse the
    rows of one view that cannot be encoded and write the others."""
    for table, lines in ((TABLE, view_lines), (DELTAS, delta_lines)):
        if lines:
            client.raw_insert(
                table,
                insert_block=b"\n".join(lines),
                fmt="JSONEachRow",
                settings={**_INSERT_SETTINGS, "insert_deduplication_token": f"{token}/{table}"},
            )


def latest_states(client: Client, view_ids: Sequence[str], fields: Sequence[str]) -> list[tuple[Any, ...]]:
    """(view_id, version, first seen ms, last received ms, clock_offset_ms, closed, *fields) of each
    view that has a ``views`` row."""
    if not view_ids:
        return []
    columns = (
        "version, toUnixTimestamp64Milli(first_seen_at), toUnixTimestamp64Milli(last_received_at), clock_offset_ms, "
        f"closed, {', '.join(fields)}"
    )
    rows = client.query(
        latest_sql(columns, "view_id IN {ids:Array(String)}"), parameters={"ids": list(view_ids)}
    ).result_rows
    return [tuple(row) for row in rows]


def delta_sums(client: Client, view_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """Per view and (minute index, CDN) cell: the sums of :data:`schemas.view_facts.COLUMNS`, the
    summed concurrency samples and whether a startup time was written: what the rollups hold for it."""
    if not view_ids:
        return []
    sums = ", ".join(f"sum({c})" for c in FACT_COLUMNS)
    rows = client.query(
        f"SELECT view_id, intDiv(toUnixTimestamp(minute), 60) AS m, cdn, {sums}, "
        "sumForEach(CAST(active_samples, 'Array(Int64)')), max(vst_samples) "
        f"FROM {DELTAS} WHERE view_id IN {{ids:Array(String)}} GROUP BY view_id, m, cdn",
        parameters={"ids": list(view_ids)},
    ).result_rows
    return [tuple(row) for row in rows]


def open_views(client: Client, since_ms: int) -> list[tuple[str, int]]:
    """Views not closed whose newest beacon arrived at or after ``since_ms``: (view id, received ms)."""
    latest = latest_sql(
        "last_received_at, closed", "last_received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
    )
    rows = client.query(
        f"SELECT view_id, toUnixTimestamp64Milli(last_received_at) FROM ({latest}) WHERE NOT closed",
        parameters={"since": since_ms},
    ).result_rows
    return [(str(view_id), int(received)) for view_id, received in rows]


def erase_viewer(client: Client, viewer_id: str) -> dict[str, int]:
    """Deletes one viewer's views and their deltas; rows removed per table.

    Deltas first: their view ids are read from ``views``, so an erasure interrupted in between
    still finds them when it runs again.
    """
    parameters = {"viewer": viewer_id}
    rows = client.query(latest_sql("version", "viewer_id = {viewer:String}"), parameters=parameters).result_rows
    view_ids = [str(row[0]) for row in rows]
    deltas = delete_rows(client, DELTAS, "view_id IN {ids:Array(String)}", {"ids": view_ids}) if view_ids else 0
    return {DELTAS: deltas, TABLE: delete_rows(client, TABLE, "viewer_id = {viewer:String}", parameters)}


# --- the Stats API and the dashboards -------------------------------------------------------
def view(client: Client, view_id: str, property_id: str = "") -> dict[str, Any] | None:
    """The latest state of one view, times as ISO 8601, or None; with ``property_id``, None for a
    view of another property too (a view's property never changes, so this filters its rows)."""
    times = ", ".join(f"toUnixTimestamp64Milli({c}) AS {c}" for c in TIME_COLUMNS)
    others = ", ".join(c for c in COLUMNS[1:] if c not in TIME_COLUMNS)
    where = "view_id = {view_id:String}" + (" AND property = {property:String}" if property_id else "")
    result = client.query(
        latest_sql(f"{others}, {times}", where), parameters={"view_id": view_id, "property": property_id}
    )
    if not result.result_rows:
        return None
    found = dict(zip(result.column_names, result.result_rows[0], strict=True))
    for column in TIME_COLUMNS:
        found[column] = iso_ms(found[column])
    for column in BOOL_COLUMNS:
        found[column] = bool(found[column])
    return found


def _started_in(window: Window, filters: Filters, params: dict[str, Any]) -> str:
    """Latest state of each view that started in the window and matches the filters."""
    params.update(window.params())
    columns = ", ".join(dict.fromkeys((*DIMENSIONS.values(), "vst_ms", "qoe_score", "started_at")))
    where = "started_at >= toDateTime({t0:Int64}) AND started_at < toDateTime({t1:Int64})"
    return f"SELECT * FROM ({latest_sql(columns, where)}) WHERE {filters.cube_sql(params)}"


def vst_histogram(
    client: Client, window: Window, filters: Filters | None = None, bin_ms: int = 250, max_ms: int = 10_000
) -> list[dict[str, Any]]:
    """Startup times of the views that started in the window, in ``bin_ms`` bins up to ``max_ms`` (+ overflow)."""
    params: dict[str, Any] = {}
    rows = client.query(
        f"SELECT vst_ms FROM ({_started_in(window, filters or Filters(), params)}) WHERE vst_ms IS NOT NULL",
        parameters=params,
    ).result_rows
    values = np.array([float(r[0]) for r in rows], dtype=np.float64)
    edges = np.arange(0, max_ms + bin_ms, bin_ms, dtype=np.float64)
    counts, _ = np.histogram(np.minimum(values, max_ms), bins=np.append(edges, np.inf))
    return [
        {"from_ms": float(edges[i]), "to_ms": float(edges[i + 1]) if i + 1 < len(edges) else None, "views": int(n)}
        for i, n in enumerate(counts)
    ]


def recent_views(
    client: Client, window: Window, filters: Filters | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Views that started in the window, lowest QoE score first: where to look."""
    params: dict[str, Any] = {"limit": limit}
    rows = client.query(
        f"SELECT view_id, cdn, title_id, qoe_score, toUnixTimestamp64Milli(started_at) FROM "
        f"({_started_in(window, filters or Filters(), params)}) ORDER BY qoe_score ASC NULLS LAST, started_at DESC "
        "LIMIT {limit:UInt32}",
        parameters=params,
    ).result_rows
    return [
        {"view_id": v, "cdn": cdn, "title": title, "qoe_score": score, "started_at": iso_ms(int(started))}
        for v, cdn, title, score, started in rows
    ]
