"""The dimensions a view is sliced by: one list for the record, the sessionizer, the rollups, the
Stats API and the dashboards.

A dimension is fixed for the whole view (REFERENCE §2). Each one names its column (in ``views``,
``view_deltas`` and the rollup tables), where its value comes from in a beacon record, and, if
users may filter and break down by it, its Stats API name.

Where a value comes from follows one rule, shared with the raw-event table: an edge's geo headers
beat what a client claims (``SERVER_FIRST``), and a client's device hints beat user-agent parsing
(``CLIENT_FIRST``). The property (tenancy) is the server's alone (``SERVER``): ingest resolves it
from the beacon's property key, and a client cannot claim one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal


class Source(Enum):
    SERVER = "server"  # the server's context only
    CLIENT = "client"  # the beacon's context only
    SERVER_FIRST = "server_first"  # the server's context (edge geo), else the client's
    CLIENT_FIRST = "client_first"  # the client's context, else the server's (user-agent parsing)
    SDK = "sdk"  # the beacon's sdk block


@dataclass(frozen=True, slots=True)
class Dimension:
    column: str  # column of views, view_deltas and the rollups
    source: Source
    field: str  # the field of the beacon's context (or sdk block, or the server's context) it is read from
    label: str  # what the dashboards call it
    api_name: str | None = None  # the Stats API's filter and breakdown name; None: not sliced by users


VIEW_DIMENSIONS: Final[tuple[Dimension, ...]] = (
    # The property (app, brand or environment) of the view's first beacon; a bound token reads one.
    Dimension("property", Source.SERVER, "property", "Property", "property"),
    # The CDN the view started on; pathway changes move later time slices to the new one.
    Dimension("cdn", Source.CLIENT, "cdn", "CDN", "cdn"),
    Dimension("country", Source.SERVER_FIRST, "country", "Country", "country"),
    Dimension("region", Source.SERVER_FIRST, "region", "Region"),
    Dimension("asn", Source.SERVER_FIRST, "asn", "ASN", "asn"),
    Dimension("device_type", Source.CLIENT_FIRST, "device_type", "Device", "device_type"),
    Dimension("os", Source.CLIENT_FIRST, "os", "OS"),
    Dimension("browser", Source.CLIENT_FIRST, "browser", "Browser"),
    Dimension("player_name", Source.CLIENT, "player_name", "Player", "player"),
    Dimension("player_version", Source.CLIENT, "player_version", "Player version"),
    Dimension("title_id", Source.CLIENT, "title_id", "Title", "title"),
    Dimension("title", Source.CLIENT, "title", "Title name"),
    Dimension("stream_type", Source.CLIENT, "stream_type", "Stream type", "stream_type"),
    Dimension("sdk_name", Source.SDK, "name", "SDK"),
    Dimension("sdk_version", Source.SDK, "version", "SDK version"),
)

VIEW_DIMENSION_COLUMNS: Final[tuple[str, ...]] = tuple(d.column for d in VIEW_DIMENSIONS)

# Stats API name → dimension, for every dimension users filter and break down by.
SLICES: Final[Mapping[str, Dimension]] = {d.api_name: d for d in VIEW_DIMENSIONS if d.api_name is not None}

# The same names as a type, for API signatures; tests/schemas checks it against SLICES.
SliceName = Literal["property", "cdn", "country", "asn", "device_type", "player", "title", "stream_type"]
