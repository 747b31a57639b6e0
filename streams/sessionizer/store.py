"""The sessionizer's side of the warehouse: what it writes, and what it reads back to rebuild.

Writes: ``views`` (one row per view and flush, ReplacingMergeTree on ``version``) and
``view_deltas`` (the change of each (view, minute, CDN) cell; materialized views roll it up).
``views`` goes first: a view with no ``views`` row has no deltas either, which is what lets a
restarted worker treat a view it cannot find as new.

Reads, for a view this process has not seen yet or must fold again: its latest ``views`` row
(meta), its ledger (the deltas summed per cell: exactly what the rollups hold for it) and its
events (``beacon_events``, which the raw sink writes exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from schemas.view_facts import COLUMNS, Key
from streams.sessionizer.events import Dims, Ev, to_ev
from streams.sessionizer.view import ViewMeta

VIEWS = "views"
DELTAS = "view_deltas"
_INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
_META_FIELDS = (
    "viewer_id",
    "first_cdn",
    "country",
    "region",
    "asn",
    "device_type",
    "os",
    "browser",
    "player_name",
    "player_version",
    "title_id",
    "title",
    "stream_type",
    "sdk_name",
    "sdk_version",
)


@dataclass(frozen=True, slots=True)
class StoredView:
    meta: ViewMeta
    version: int
    last_received_ms: int
    closed: bool


@dataclass(slots=True)
class Ledger:
    """What the rollups hold for one view: its deltas summed per (minute, CDN) cell."""

    vectors: dict[Key, list[float]]
    samples: dict[Key, list[int]]
    vst_emitted: bool


class ViewStore:
    def __init__(self, client: Client) -> None:
        self.client = client

    def known(self, view_ids: Sequence[str]) -> dict[str, StoredView]:
        """The latest ``views`` row of each view that has one."""
        if not view_ids:
            return {}
        fields = ", ".join(_META_FIELDS)
        rows = self.client.query(
            f"SELECT view_id, argMax(tuple(version, toUnixTimestamp64Milli(first_seen_at), "
            f"toUnixTimestamp64Milli(last_received_at), clock_offset_ms, closed, {fields}), version) "
            f"FROM {VIEWS} WHERE view_id IN {{ids:Array(String)}} GROUP BY view_id",
            parameters={"ids": list(view_ids)},
        ).result_rows
        return {str(view_id): _stored(str(view_id), values) for view_id, values in rows}

    def ledgers(self, view_ids: Sequence[str]) -> dict[str, Ledger]:
        if not view_ids:
            return {}
        sums = ", ".join(f"sum({c})" for c in COLUMNS)
        rows = self.client.query(
            f"SELECT view_id, intDiv(toUnixTimestamp(minute), 60) AS m, cdn, {sums}, "
            "sumForEach(CAST(active_samples, 'Array(Int64)')), max(vst_samples) "
            f"FROM {DELTAS} WHERE view_id IN {{ids:Array(String)}} GROUP BY view_id, m, cdn",
            parameters={"ids": list(view_ids)},
        ).result_rows
        ledgers: dict[str, Ledger] = {v: Ledger({}, {}, False) for v in view_ids}
        width = len(COLUMNS)
        for row in rows:
            ledger = ledgers[str(row[0])]
            key = (int(row[1]), str(row[2]))
            ledger.vectors[key] = [float(x) for x in row[3 : 3 + width]]
            samples = [int(x) for x in row[3 + width]]
            if any(samples):
                ledger.samples[key] = samples
            ledger.vst_emitted = ledger.vst_emitted or bool(row[4 + width])
        return ledgers

    def events(self, view_ids: Sequence[str]) -> dict[str, list[Ev]]:
        """Every stored event of these views (duplicates included: the fold keeps one per seq)."""
        if not view_ids:
            return {}
        rows = self.client.query(
            "SELECT view_id, attrs FROM beacon_events WHERE view_id IN {ids:Array(String)}",
            parameters={"ids": list(view_ids)},
        ).result_rows
        found: dict[str, list[Ev]] = {}
        for view_id, attrs in rows:
            found.setdefault(str(view_id), []).append(to_ev(orjson.loads(attrs)))
        return found

    def open_views(self, since_ms: int) -> list[tuple[str, int]]:
        """Views not closed whose newest beacon arrived at or after ``since_ms``: (view id, received ms)."""
        rows = self.client.query(
            f"SELECT view_id, max(toUnixTimestamp64Milli(last_received_at)) FROM {VIEWS} "
            "WHERE last_received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "GROUP BY view_id HAVING argMax(closed, version) = 0",
            parameters={"since": since_ms},
        ).result_rows
        return [(str(view_id), int(received)) for view_id, received in rows]

    def write(self, views: list[dict[str, Any]], deltas: list[dict[str, Any]], token: str) -> None:
        """Views first, then deltas; a retry with the same token is dropped by ClickHouse."""
        for table, rows in ((VIEWS, views), (DELTAS, deltas)):
            if rows:
                self.client.raw_insert(
                    table,
                    insert_block=b"\n".join(orjson.dumps(row) for row in rows),
                    fmt="JSONEachRow",
                    settings={**_INSERT_SETTINGS, "insert_deduplication_token": f"{token}/{table}"},
                )


def _stored(view_id: str, values: tuple[Any, ...]) -> StoredView:
    version, first_seen, received, offset, closed, *meta = values
    fields = dict(zip(_META_FIELDS, meta, strict=True))
    dims = Dims(
        cdn=str(fields["first_cdn"]),
        **{k: fields[k] for k in _META_FIELDS if k not in ("viewer_id", "first_cdn")},
    )
    return StoredView(
        meta=ViewMeta(view_id, str(fields["viewer_id"]), dims, int(offset), int(first_seen)),
        version=int(version),
        last_received_ms=int(received),
        closed=bool(closed),
    )
