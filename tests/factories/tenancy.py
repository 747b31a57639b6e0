"""Tenancy: views of several properties, and read tokens bound to one property or to none."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from foundation.access import Scope, Token
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.store import ViewStore
from streams.sink import RawEventSink, SourceRecord
from tests.factories.views import MINUTE_MS, Script, record
from warehouse.access import create_token

READ = frozenset({Scope.READ})
_offsets = itertools.count()  # the raw sink stores an offset once: each call writes new ones


def read_token(client: Client, property_id: str = "") -> Token:
    """A stored read token: bound to ``property_id``, or (empty) reading every property."""
    name = f"reads-{property_id or 'everything'}"
    return create_token(client, name, READ, "tests", property_id=property_id).token


@dataclass(frozen=True)
class PropertyView:
    view_id: str
    property_id: str | None  # None: a record written before properties (no server.property)
    cdn: str = "cdn-a"


def recent_t0(minutes_ago: int = 5) -> int:
    return (int(time.time() * 1000) // MINUTE_MS - minutes_ago) * MINUTE_MS


def store_views(client: Client, played: Sequence[PropertyView], t0: int | None = None) -> None:
    """Each view played for a minute from ``t0``, its raw events and its sessionized rows stored."""
    start = recent_t0() if t0 is None else t0
    records = []
    for i, view in enumerate(played):
        script = Script(start + i * 1000).at(0, "playback_request").at(600, "playback_start")
        script.at(60_600, "view_end")
        server = {} if view.property_id is None else {"property": view.property_id}
        records.append(record(script.events, view.view_id, server=server, cdn=view.cdn))
    RawEventSink(client, "c/beacons").write([SourceRecord(0, next(_offsets), value) for value in records])
    sessionizer = Sessionizer(ViewStore(client))
    for value in records:
        sessionizer.ingest(value, 0)
    sessionizer.flush()
