"""The sessionizer's side of the warehouse: what it writes, and what it reads back to rebuild.

Writes (:func:`warehouse.views.write_flush`, the tables' one writer): ``views`` (one row per view
and flush) and ``view_deltas`` (the change of each (view, minute, CDN) cell; materialized views
roll it up). A view whose viewer was erased after it was first seen is left out of every write
(:func:`warehouse.privacy.without_erased`): erasure deletes what is stored, and this keeps a view
still open in memory from being written back.

Reads, for a view this process has not seen yet or must fold again: its latest state (meta), its
ledger (the deltas summed per cell: exactly what the rollups hold for it) and its events
(``beacon_events``, which the raw sink writes exactly once). The SQL is in :mod:`warehouse.views`
and :mod:`warehouse.events`; this module turns rows into the sessionizer's types.

A view's rows are written together or not at all (:class:`ViewRows`). When the warehouse refuses a
flush as bad data, the flush is halved until the views to blame stand alone
(:func:`streams.failures.write_isolating`); every other view is written, and the refused ones are
returned for the dead-letter topic.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from schemas.dimensions import VIEW_DIMENSION_COLUMNS
from schemas.view_facts import COLUMNS, Key
from streams.failures import Refused, RetryPolicy, reason_of, write_isolating
from streams.sessionizer.events import Dims, Ev, to_ev
from streams.sessionizer.view import ViewMeta
from warehouse import events as raw_events
from warehouse import privacy, views

log = logging.getLogger(__name__)

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


@dataclass(slots=True)
class ViewRows:
    """What one flush writes for one view: its ``views`` row and its deltas."""

    view_id: str
    view: dict[str, Any]
    deltas: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Encoded:
    rows: ViewRows
    view: bytes
    deltas: list[bytes]


class ViewStore:
    def __init__(self, client: Client, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()

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
        unreadable = 0
        for view_id, attrs in raw_events.events_of_views(self.client, view_ids):
            try:
                found.setdefault(view_id, []).append(to_ev(orjson.loads(attrs)))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                # The raw sink stores every event of a record the sessionizer refused at read: skip
                # it here too, or the read would fail on every retry and stall every flush.
                unreadable += 1
        if unreadable:
            log.warning("sessionizer: skipped %d stored events it cannot read", unreadable)
        return found

    def open_views(self, since_ms: int) -> list[tuple[str, int]]:
        """Views not closed whose newest beacon arrived at or after ``since_ms``: (view id, received ms)."""
        return views.open_views(self.client, since_ms)

    def write(self, rows: list[ViewRows], token: str) -> list[Refused[ViewRows]]:
        """Writes every view it can; returns the views refused as bad data, with the reason.

        Views first, then deltas; a retry with the same token is dropped by ClickHouse. Transient
        failures raise: the caller retries, and the same views get the same tokens.
        """
        kept, _ = privacy.without_erased(self.client, [r.view for r in rows], [])
        kept_ids = {str(row["view_id"]) for row in kept}
        encoded, refused = _encode([r for r in rows if r.view_id in kept_ids])
        bad = write_isolating(encoded, lambda batch: self._insert(batch, token), self.policy)
        return refused + [Refused(b.item.rows, b.reason) for b in bad]

    def _insert(self, batch: list[_Encoded], token: str) -> None:
        # A token per set of views: a halved flush's parts are new blocks, a retried part is not.
        ids = hashlib.blake2b("\n".join(e.rows.view_id for e in batch).encode(), digest_size=8).hexdigest()
        view_lines = [e.view for e in batch]
        delta_lines = [line for e in batch for line in e.deltas]
        views.insert_flush(self.client, view_lines, delta_lines, f"{token}.{ids}")


def _encode(rows: list[ViewRows]) -> tuple[list[_Encoded], list[Refused[ViewRows]]]:
    """Each view's rows as JSON lines; a view whose rows cannot be encoded is refused at once."""
    encoded: list[_Encoded] = []
    refused: list[Refused[ViewRows]] = []
    for view in rows:
        try:
            encoded.append(_Encoded(view, views.encode_row(view.view), [views.encode_row(d) for d in view.deltas]))
        except (TypeError, ValueError, OverflowError) as exc:  # orjson: an integer beyond 64 bits
            refused.append(Refused(view, f"cannot serialise the view's rows: {reason_of(exc)}"))
    return encoded, refused


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
