"""Erasing one viewer (the right to erasure), and the log of erasures. Owns ``privacy_erasures``.

:func:`erase_viewer` removes the viewer from every table that holds a viewer or view id, through
the erase function of each table's owning module (:func:`warehouse.events.erase_viewer`,
:func:`warehouse.views.erase_viewer`), so every statement on a table stays in its module. The
recommender owns no table: its interactions and its answers are read from ``views`` at each
request. Tables with no viewer or view id keep what the viewer added to them as anonymous counts:
``events_per_minute`` and the QoE rollups; ``steering_decisions`` and the catalogue hold nothing
of viewers.

The log keeps the SHA-256 of the viewer id, never the id. Kept as it is, the id would survive in
the very table that records its erasure. The hash still does what the log is for: whoever is
given the id can show that it was erased and when, and writers recognise the viewer's rows
without storing the id (:func:`without_erased`). Viewer ids are random per player (the SDK makes
a UUID); a deployment whose players send guessable ids (an e-mail, an account number) must have
them stored as a keyed HMAC (``QOE_VIEWER_ID_HMAC_KEY``), because an unkeyed hash of a guessable
id can be found by trying ids. The tables then hold the HMAC, and so does the log's hash input:
callers turn the id a viewer knows into the stored one with :func:`stored_viewer_id`.

Each erasure writes two rows: ``started`` before anything is deleted, and ``done`` with the rows
removed per table. The ``started`` row is what the sessionizer checks before every write
(:func:`without_erased`): a view of the viewer still open in a worker's memory, first seen before
the erasure began, is never written back. A view first seen after it is new viewing and is kept.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from schemas.privacy import pseudonymous_viewer_id
from warehouse import events, views
from warehouse.results import iso_ms

log = logging.getLogger(__name__)

TABLE = "privacy_erasures"
STARTED, DONE = "started", "done"
# A sessionizer flush that looked the viewer up just before the ``started`` row can still land
# its insert while the first pass runs; a mutation never sees a later insert, so a second pass
# takes it out.
PASSES = 2
_COLUMNS = ("erasure_id", "erased_at", "viewer_id_hash", "requested_by", "state", "finished_at", "rows_removed")


def stored_viewer_id(viewer_id: str, settings: Settings) -> str:
    """The viewer id as players send it, turned into the id the tables hold: itself, or its HMAC
    when ``QOE_VIEWER_ID_HMAC_KEY`` is set (ingest replaces every viewer id so, before Kafka)."""
    key = settings.viewer_id_hmac_key.get_secret_value() if settings.viewer_id_hmac_key is not None else ""
    return pseudonymous_viewer_id(key.encode(), viewer_id) if key else viewer_id  # empty: unset, as ingest reads it


def viewer_hash(viewer_id: str) -> str:
    """The SHA-256 of a viewer id, in hex: how the erasure log names a viewer."""
    return hashlib.sha256(viewer_id.encode()).hexdigest()


@dataclass(frozen=True)
class ErasureReport:
    erasure_id: str
    viewer_id_hash: str
    requested_by: str
    erased_at: datetime
    finished_at: datetime
    rows_removed: dict[str, int] = field(default_factory=dict)

    @property
    def removed_anything(self) -> bool:
        return any(self.rows_removed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "viewer_id_hash": self.viewer_id_hash,
            "requested_by": self.requested_by,
            "erased_at": iso_ms(_ms(self.erased_at)),
            "finished_at": iso_ms(_ms(self.finished_at)),
            "rows_removed": dict(self.rows_removed),
        }


def erase_viewer(client: Client, viewer_id: str, requested_by: str) -> ErasureReport:
    """Removes every row of one viewer (the id as stored) and logs the erasure; returns once the
    rows are gone. Running it again is harmless: it then removes nothing, or what arrived since."""
    erasure_id, hashed, started = uuid.uuid4().hex, viewer_hash(viewer_id), datetime.now(UTC)
    _log_row(client, erasure_id, hashed, requested_by, started, STARTED, None, {})
    removed: Counter[str] = Counter()
    for _ in range(PASSES):
        removed.update(events.erase_viewer(client, viewer_id))
        removed.update(views.erase_viewer(client, viewer_id))
    finished = datetime.now(UTC)
    _log_row(client, erasure_id, hashed, requested_by, started, DONE, finished, dict(removed))
    log.info("privacy: erased viewer sha256:%s (erasure %s, by %r): %s", hashed, erasure_id, requested_by, removed)
    return ErasureReport(erasure_id, hashed, requested_by, started, finished, dict(removed))


def _log_row(
    client: Client,
    erasure_id: str,
    hashed: str,
    requested_by: str,
    started: datetime,
    state: str,
    finished: datetime | None,
    removed: dict[str, int],
) -> None:
    row = [erasure_id, started, hashed, requested_by, state, finished, removed]
    client.insert(TABLE, [row], column_names=list(_COLUMNS))


def erasures_of(client: Client, viewer_ids: Iterable[str]) -> dict[str, int]:
    """When the newest erasure of each of these viewers began (ms since epoch), for those erased."""
    by_hash = {viewer_hash(viewer_id): viewer_id for viewer_id in set(viewer_ids)}
    if not by_hash:
        return {}
    rows = client.query(
        f"SELECT viewer_id_hash, toUnixTimestamp64Milli(max(erased_at)) FROM {TABLE} "
        "WHERE viewer_id_hash IN {hashes:Array(String)} GROUP BY viewer_id_hash",
        parameters={"hashes": list(by_hash)},
    ).result_rows
    return {by_hash[str(hashed)]: int(at_ms) for hashed, at_ms in rows}


def without_erased(
    client: Client, view_rows: list[dict[str, Any]], deltas: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A sessionizer flush (``views`` rows as :func:`warehouse.views.write_flush` takes them, and
    their deltas) without the views of viewers erased since the view was first seen."""
    erased = erasures_of(client, (str(row["viewer_id"]) for row in view_rows))
    if not erased:
        return view_rows, deltas
    dropped = {
        str(row["view_id"])
        for row in view_rows
        if str(row["viewer_id"]) in erased and row["first_seen_at"] * 1000 <= erased[str(row["viewer_id"])]
    }
    if dropped:
        log.info("privacy: left out %d views of erased viewers", len(dropped))
    return (
        [row for row in view_rows if str(row["view_id"]) not in dropped],
        [row for row in deltas if str(row["view_id"]) not in dropped],
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
