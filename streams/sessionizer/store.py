"""The sessionizer's side of the warehouse: what it writes, and what it reads back to rebuild.

Writes (:func:`warehouse.views.write_flush`, the tables' one writer): ``views`` (one row per view
and flush) and ``view_deltas`` (the change of each (view, minute, CDN) cell; materialized views
roll it up).

Reads, for a view this process has not seen yet or must fold again: its latest state (meta), its
ledger (the deltas summed per cell: exactly what the rollups hold for it) and its events
(``beacon_events``, which the raw sink writes exactly once). The SQL is in :mod:`warehouse.views`
and :mod:`warehouse.events`; this module turns rows into the sessionizer's types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from schemas.dimensions import VIEW_DIMENSION_COLUMNS
from schemas.view_facts import COLUMNS, Key
from streams.sessionizer.events import Dims, Ev, to_ev
from streams.sessionizer.view import ViewMeta
from warehouse import events as raw_events
from warehouse import views

# The view's dimensions as ``views`` stores them: the CDN a view started on is ``first_cdn``.
_META_FIELDS = ("viewer_id", "first_cdn", *(c for c in VIEW_DIMENSION_COLUMNS if c != "cdn"))


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
        """The latest state of each view that has a ``views`` row."""
        rows = views.latest_states(self.client, view_ids, _META_FIELDS)
        return {str(row[0]): _stored(str(row[0]), row[1:]) for row in rows}

    def ledgers(self, view_ids: Sequence[str]) -> dict[str, Ledger]:
        ledgers: dict[str, Ledger] = {v: Ledger({}, {}, False) for v in view_ids}
        width = len(COLUMNS)
        for row in views.delta_sums(self.client, view_ids):
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
        found: dict[str, list[Ev]] = {}
        for view_id, attrs in raw_events.events_of_views(self.client, view_ids):
            found.setdefault(view_id, []).append(to_ev(orjson.loads(attrs)))
        return found

    def open_views(self, since_ms: int) -> list[tuple[str, int]]:
        """Views not closed whose newest beacon arrived at or after ``since_ms``: (view id, received ms)."""
        return views.open_views(self.client, since_ms)

    def write(self, rows: list[dict[str, Any]], deltas: list[dict[str, Any]], token: str) -> None:
        """Views first, then deltas; a retry with the same token is dropped by ClickHouse."""
        views.write_flush(self.client, rows, deltas, token)


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
