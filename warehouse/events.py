"""Raw player events. Owns ``beacon_records``, ``beacon_events`` and ``events_per_minute``.

The one writer is :func:`insert_records`, called by the raw sink (``streams.sink``), which keeps
the batching, the Kafka offset ledger and the retries. ClickHouse fills ``beacon_events`` from
``beacon_records`` and ``events_per_minute`` from ``beacon_events`` with materialized views. Each
event keeps the property of its record (``server.property``; empty: the default property).

Duplicates: an event is its (view_id, seq). The SDK resends a beacon whose 202 was lost, so the
table may hold copies of an event until merges fold them. :func:`one_view_sql` is the one
definition of a view's deduplicated events, read by both ``/v1/events`` and
``/v1/views/{view_id}``: the newest received copy of each seq, the one a merge of the
ReplacingMergeTree keeps, so an answer does not change when a merge runs. The sessionizer reads
every copy (:func:`events_of_views`): its fold keeps one per seq.

Erasure (:func:`erase_viewer`, run by :mod:`warehouse.privacy`) is the only statement that deletes
rows before their TTL. ``beacon_records`` stores nothing and ``events_per_minute`` holds counts per minute,
type and CDN with no view or viewer id, so only ``beacon_events`` holds a viewer's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.deletes import delete_rows
from warehouse.results import iso_ms, query_frame, utc

TABLE = "beacon_events"
RECORDS_TABLE = "beacon_records"
INSERT_SETTINGS = {
    "input_format_skip_unknown_fields": 1,
    "input_format_json_read_objects_as_strings": 1,
    # A server context without a field the table reads (a record written before ``property``
    # existed) gets the field's default, '' for the property, instead of being refused.
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


# --- writes ---------------------------------------------------------------------------------
def insert_records(client: Client, block: bytes, dedup_token: str) -> None:
    """Insert JSONEachRow beacon records; a retry with the same token is dropped by ClickHouse."""
    settings = {**INSERT_SETTINGS, "insert_deduplication_token": dedup_token}
    client.raw_insert(RECORDS_TABLE, insert_block=block, fmt="JSONEachRow", settings=settings)


def stored_offsets(client: Client, source: str) -> dict[int, int]:
    """The highest Kafka offset stored per partition of ``source``: the raw sink's ledger."""
    rows = client.query(
        f"SELECT kafka_partition, max(kafka_offset) FROM {TABLE} "
        "WHERE kafka_source = {source:String} GROUP BY kafka_partition",
        parameters={"source": source},
    ).result_rows
    return {int(partition): int(offset) for partition, offset in rows}


def offsets_present(client: Client, source: str, partition: int, low: int, high: int) -> set[int]:
    """The offsets between ``low`` and ``high`` (inclusive) of one partition that are stored."""
    rows = client.query(
        f"SELECT DISTINCT kafka_offset FROM {TABLE} WHERE kafka_source = {{source:String}} "
        "AND kafka_partition = {partition:UInt16} AND kafka_offset BETWEEN {low:UInt64} AND {high:UInt64}",
        parameters={"source": source, "partition": partition, "low": low, "high": high},
    ).result_rows
    return {int(offset) for (offset,) in rows}


def erase_viewer(client: Client, viewer_id: str) -> dict[str, int]:
    """Deletes every event of one viewer, whatever view it was sent for; rows removed per table."""
    return {TABLE: delete_rows(client, TABLE, "viewer_id = {viewer:String}", {"viewer": viewer_id})}


# --- reads ----------------------------------------------------------------------------------
def one_view_sql(columns: str, of_property: bool = False) -> str:
    """``columns`` of one view's events (``{view_id:String}``), one row per seq, in seq order, at
    most ``{limit:UInt32}``: the newest received copy of each event (see the module docstring).
    ``of_property``: only the events posted for ``{property:String}``."""
    return (
        f"SELECT {columns} FROM {TABLE} WHERE view_id = {{view_id:String}}{_in_property(of_property)} "
        "ORDER BY seq, received_at DESC LIMIT 1 BY seq LIMIT {limit:UInt32}"
    )


def _in_property(of_property: bool) -> str:
    return " AND property = {property:String}" if of_property else ""


def view_events(client: Client, view_id: str, limit: int = 5000, property_id: str = "") -> pd.DataFrame:
    """One view's events in sequence order, duplicates folded; no rows for an unknown view.
    ``property_id``: only the events posted for that property (tenancy); empty: every one."""
    frame = query_frame(
        client,
        one_view_sql("seq, ts, received_at, type, playhead_ms, attrs, cdn", bool(property_id)),
        {"view_id": view_id, "limit": limit, "property": property_id},
    )
    return utc(frame, "ts", "received_at")


def timeline(
    client: Client, view_id: str, clock_offset_ms: int = 0, limit: int = 10_000, property_id: str = ""
) -> list[dict[str, Any]]:
    """One view's events as the player sent them, duplicates folded, plus the server-clock time of
    each. ``property_id``: only the events posted for that property; empty: every one."""
    rows = client.query(
        one_view_sql("attrs, toUnixTimestamp64Milli(received_at)", bool(property_id)),
        parameters={"view_id": view_id, "limit": limit, "property": property_id},
    ).result_rows
    events = []
    for attrs, received in rows:
        event = orjson.loads(attrs)
        event["server_time"] = iso_ms(int(event["ts"]) + clock_offset_ms)
        event["received_at"] = iso_ms(int(received))
        events.append(event)
    return events


def has_events(client: Client, view_id: str, property_id: str = "") -> bool:
    """Whether an event of the view is stored (with ``property_id``: one posted for that property)."""
    rows = client.query(
        f"SELECT count() FROM {TABLE} WHERE view_id = {{view_id:String}}{_in_property(bool(property_id))}",
        parameters={"view_id": view_id, "property": property_id},
    ).result_rows
    return bool(rows and rows[0][0])


def events_of_views(client: Client, view_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(view id, event JSON) of every stored copy of every event of these views, in no order."""
    if not view_ids:
        return []
    rows = client.query(
        f"SELECT view_id, attrs FROM {TABLE} WHERE view_id IN {{ids:Array(String)}}",
        parameters={"ids": list(view_ids)},
    ).result_rows
    return [(str(view_id), str(attrs)) for view_id, attrs in rows]


def events_per_minute(client: Client, minutes: int) -> pd.DataFrame:
    """Events received per minute and type over the last ``minutes``."""
    frame = query_frame(
        client,
        "SELECT minute, type, sum(events) AS events FROM events_per_minute "
        "WHERE minute >= toStartOfMinute(now() - toIntervalMinute({minutes:UInt32})) "
        "GROUP BY minute, type ORDER BY minute, type",
        {"minutes": minutes},
    )
    return utc(frame, "minute")


def active_views_by_cdn(client: Client, minutes: int) -> pd.DataFrame:
    """Views that sent anything in each minute, by CDN."""
    frame = query_frame(
        client,
        f"SELECT toStartOfMinute(received_at) AS minute, cdn, uniqExact(view_id) AS views FROM {TABLE} "
        "WHERE received_at >= toStartOfMinute(now() - toIntervalMinute({minutes:UInt32})) "
        "GROUP BY minute, cdn ORDER BY minute, cdn",
        {"minutes": minutes},
    )
    return utc(frame, "minute")


def event_summary(client: Client, minutes: int | None = None, property_id: str = "") -> dict[str, Any]:
    """Rows stored, distinct events among them, and the newest receive time: the pipeline's pulse.
    ``property_id``: of the events posted for that property only; empty: of every one."""
    conditions = ["received_at >= now() - toIntervalMinute({minutes:UInt32})"] if minutes else []
    if property_id:
        conditions.append("property = {property:String}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows, distinct, views, newest = client.query(
        f"SELECT count(), uniqExact(view_id, seq), uniqExact(view_id), max(received_at) FROM {TABLE} {where}",
        parameters={"minutes": minutes or 0, "property": property_id},
    ).result_rows[0]
    return {
        "rows": int(rows),
        "distinct_events": int(distinct),
        "views": int(views),
        "newest_received_at": newest.replace(tzinfo=UTC) if rows else None,
        "as_of": datetime.now(UTC),
    }
