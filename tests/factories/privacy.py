"""Viewers with stored viewing, a small model over title ids, and a search of the whole warehouse
for what is left of a viewer (tests may read tables directly)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from clickhouse_connect.driver.client import Client

from recommender.interactions import Interactions
from recommender.models import ModelConfig
from recommender.store import swap_in
from recommender.trained import TrainedRecommender, train
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.recommender import clustered_matrix
from tests.factories.views import Script, record

_offsets = itertools.count()  # the raw sink skips offsets it stored already: every record gets a new one
MODEL_TITLES = 24  # ml-1 … ml-24, in 3 clusters of 8 co-watched titles


@dataclass(frozen=True)
class Viewing:
    """One view of ``title_id`` by ``viewer_id``: played to its end, left early, or still open."""

    viewer_id: str
    view_id: str
    title_id: str
    exit_reason: str | None = "ended"  # None: no view_end yet, the view is open


def viewing_events(t0: int, exit_reason: str | None) -> list[dict[str, Any]]:
    """A play intent, a start, a minute of playing and (unless None) a view_end with the reason."""
    script = Script(t0).at(0, "playback_request").at(800, "playback_start").at(30_800, "heartbeat", playhead_ms=30_000)
    if exit_reason is not None:
        script.at(60_800, "view_end", playhead_ms=60_000, reason=exit_reason)
    return script.events


def viewer_record(events: list[dict[str, Any]], viewing: Viewing, received_at: int) -> bytes:
    """A beacons-topic record (:func:`tests.factories.views.record`) of this viewer and title."""
    value = orjson.loads(
        record(events, viewing.view_id, received_at=received_at, title_id=viewing.title_id, stream_type="vod")
    )
    value["beacon"]["viewer_id"] = viewing.viewer_id
    return orjson.dumps(value)


def beacon_of(viewing: Viewing, now_ms: int) -> dict[str, Any]:
    """The viewing as one beacon a player posts: events on the viewer's clock, ending about now."""
    events = viewing_events(now_ms - 61_000, viewing.exit_reason)
    beacon: dict[str, Any] = orjson.loads(viewer_record(events, viewing, now_ms))["beacon"]
    return beacon


def store_viewing(client: Client, viewings: Sequence[Viewing], sessionizer: Sessionizer | None = None) -> Sessionizer:
    """Stores the viewings as the raw sink and the sessionizer do (raw events, views, deltas), received now."""
    now_ms = int(time.time() * 1000)
    values = [viewer_record(viewing_events(now_ms - 61_000, v.exit_reason), v, now_ms) for v in viewings]
    RawEventSink(client, "c/beacons").write([SourceRecord(0, next(_offsets), value) for value in values])
    sessionizer = sessionizer or Sessionizer(ViewStore(client))
    for value in values:
        sessionizer.ingest(value, 0)
    sessionizer.flush()
    return sessionizer


def title_model(info: dict[str, Any] | None = None) -> TrainedRecommender:
    """Item-kNN over ``ml-1`` … ``ml-24``: titles of one cluster of 8 are watched together."""
    matrix = clustered_matrix(n_users=60, n_items=MODEL_TITLES, clusters=3, per_user=5)
    ids = np.array([f"ml-{n + 1}" for n in range(MODEL_TITLES)])
    return train(Interactions(matrix, np.arange(60), ids), ModelConfig("itemknn", {"k": 5}), info)


def install_model(root: Path, info: dict[str, Any] | None = None) -> Path:
    """:func:`title_model` as the current model of the store at ``root``."""
    return swap_in(title_model(info), root)


# --- what is left of a viewer -------------------------------------------------------------------
def stored_tables(client: Client) -> list[str]:
    """Every table of the current database that stores rows (not views, not Null tables)."""
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%' ORDER BY name"
    ).result_rows
    return [str(name) for (name,) in rows]


def tables_with_id_columns(client: Client) -> set[str]:
    """Tables with a column named ``viewer_id`` or ``view_id``."""
    rows = client.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
        "AND name IN ('viewer_id', 'view_id')"
    ).result_rows
    return {str(name) for (name,) in rows} & set(stored_tables(client))


def rows_holding(client: Client, needles: Iterable[str]) -> dict[str, int]:
    """Per table, the rows in which the text of some column contains one of ``needles``; tables
    without such a row are left out. A viewer erased from everywhere gives {}."""
    wanted = list(needles)
    found: dict[str, int] = {}
    for table in stored_tables(client):
        columns = client.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "AND type LIKE '%String%' AND type NOT LIKE 'AggregateFunction%'",
            parameters={"t": table},
        ).result_rows
        if not columns:
            continue
        holds = " OR ".join(f"multiSearchAny(toString(`{name}`), {{needles:Array(String)}})" for (name,) in columns)
        count = client.query(f"SELECT count() FROM `{table}` WHERE {holds}", parameters={"needles": wanted})
        if int(count.result_rows[0][0]):
            found[table] = int(count.result_rows[0][0])
    return found
