"""Beacon records as the sessionizer needs them: compact events and the view's dimensions.

Ingest validated every beacon against ``schemas.beacon`` before writing it, so this reads the
record with orjson and plain lookups instead of validating it again. Only the fields the fold
uses are kept (``Ev.extra``), which keeps open views small in memory.

The worker does not trust ingest, though (anyone who can write to the topic writes records): every
number the fold computes with must be a finite number, and every integer lie within [0, 2^53), so
no sum or conversion can overflow; timestamps lie in the schema's range and sequence numbers fit
their UInt32 columns (ClickHouse would wrap a larger one silently); ids (of the view, the viewer,
the property) must look like ids. A record that fails is refused whole (:class:`RecordError`) and
goes to the dead-letter topic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from foundation.properties import DEFAULT_PROPERTY, valid_property_id
from schemas.dimensions import VIEW_DIMENSIONS, Dimension, Source


class Ev(NamedTuple):
    seq: int
    ts: int  # viewer clock, ms since the epoch
    type: str
    playhead_ms: int
    extra: Any = None  # type-specific fields, see ``_extra``


@dataclass(frozen=True, slots=True)
class Dims:
    """What stays the same through a view: :data:`schemas.dimensions.VIEW_DIMENSIONS`, typed, in that order."""

    property: str = DEFAULT_PROPERTY  # the property id ingest resolved (server.property): a view belongs to one
    cdn: str = ""  # the CDN the view started on; pathway changes move later time slices
    country: str = ""
    region: str = ""
    asn: int = 0
    device_type: str = ""
    os: str = ""
    browser: str = ""
    player_name: str = ""
    player_version: str = ""
    title_id: str = ""
    title: str = ""
    stream_type: str = "vod"
    sdk_name: str = ""
    sdk_version: str = ""


@dataclass(frozen=True, slots=True)
class BeaconIn:
    """One record of the beacons topic, read."""

    view_id: str
    viewer_id: str
    received_at_ms: int
    clock_offset_ms: int  # server clock − viewer clock, estimated from this beacon
    dims: Dims
    events: list[Ev] = field(default_factory=list)


class RecordError(ValueError):
    """A record that is not a beacon record written by ingest."""


SAFE_INT = 2**53 - 1  # integers up to here are exact in a float64: no sum of them overflows
UINT32_MAX = 2**32 - 1  # sequence numbers (beacon_events.seq, views.max_seq) and ASNs
EPOCH_MS_MAX = 4_102_444_800_000  # the last timestamp of schemas.beacon.EpochMs (2100-01-01)
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # schemas.beacon.Id


def _int(value: Any, most: int = SAFE_INT) -> int:
    number = int(value)
    if not 0 <= number <= most:
        raise ValueError(f"{number} is outside [0, {most}]")
    return number


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _opt_float(value: Any) -> float | None:
    return None if value is None else _float(value)


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{str(value)[:80]!r} is not an id")
    return value


def _rendition(e: dict[str, Any]) -> tuple[float, int | None, int | None, float | None, float | None, float | None]:
    return (
        _float(e["bitrate_kbps"]),
        _opt_int(e.get("width")),
        _opt_int(e.get("height")),
        _opt_float(e.get("framerate")),
        _opt_float(e.get("quality")),
        _opt_float(e.get("top_bitrate_kbps")),
    )


_EXTRA: dict[str, Callable[[dict[str, Any]], Any]] = {
    "playback_request": lambda e: bool(e.get("autoplay", False)),
    "rendition_change": _rendition,
    "player_resize": lambda e: (_int(e["width"]), _int(e["height"])),
    "error": lambda e: (str(e.get("code", "")), bool(e["fatal"]), bool(e.get("business", False))),
    "view_end": lambda e: str(e.get("reason", "user_exit")),
    "heartbeat": lambda e: (_opt_int(e.get("dropped_frames")), _opt_int(e.get("total_frames"))),
    "pathway_change": lambda e: str(e["pathway"]),
}


def to_ev(event: dict[str, Any]) -> Ev:
    """One event as the player sent it → Ev. KeyError/TypeError/ValueError on a malformed event or
    a number out of bounds."""
    kind = str(event["type"])
    make = _EXTRA.get(kind)
    extra = make(event) if make else None
    seq, ts = _int(event["seq"], UINT32_MAX), _int(event["ts"], EPOCH_MS_MAX)
    return Ev(seq, ts, kind, _int(event.get("playhead_ms", 0)), extra)


def _property(value: Any) -> str:
    """The record's property id: a record from before properties has none (the default property)."""
    if value is None or value == "":
        return DEFAULT_PROPERTY
    if not isinstance(value, str) or not valid_property_id(value):
        raise ValueError(f"{str(value)[:80]!r} is not a property id")
    return value


def _dims(server: dict[str, Any], beacon: dict[str, Any]) -> Dims:
    context = beacon.get("context") or {}
    sdk = beacon.get("sdk") or {}
    values = {d.column: _dimension_value(d, context, server, sdk) for d in VIEW_DIMENSIONS}
    values["property"] = _property(values["property"])
    values["asn"] = _int(values["asn"] or 0, UINT32_MAX)
    values["stream_type"] = values["stream_type"] or "vod"
    if not all(isinstance(v, str) for k, v in values.items() if k != "asn"):
        raise TypeError("a view dimension is not a string")
    return Dims(**values)


def _dimension_value(dimension: Dimension, context: dict[str, Any], server: dict[str, Any], sdk: dict[str, Any]) -> Any:
    if dimension.source is Source.SDK:
        return sdk.get(dimension.field, "")
    if dimension.source is Source.SERVER:
        return server.get(dimension.field)
    client = context.get(dimension.field)
    if dimension.source is Source.CLIENT:
        return client if client is not None else ""
    own = server.get(dimension.field)
    first, second = (own, client) if dimension.source is Source.SERVER_FIRST else (client, own)
    if first not in (None, ""):
        return first
    return second if second is not None else ""


def read_record(value: bytes) -> BeaconIn:
    """A beacons-topic record → BeaconIn; RecordError if it is not what ingest writes."""
    try:
        record = orjson.loads(value)
        server, beacon = record["server"], record["beacon"]
        received_at = _int(server["received_at"], EPOCH_MS_MAX)
        events = [to_ev(e) for e in beacon["events"]]
        if not events:
            raise ValueError("no events")
        # The beacon left the viewer at sent_at (viewer clock) and arrived at received_at (server
        # clock): the difference is the clock skew plus the network delay. Without sent_at, the
        # newest event stands in for the send time.
        sent_at = beacon.get("sent_at")
        viewer_send = _int(sent_at, EPOCH_MS_MAX) if sent_at is not None else max(e.ts for e in events)
        return BeaconIn(
            view_id=_id(beacon["view_id"]),
            viewer_id=_id(beacon["viewer_id"]),
            received_at_ms=received_at,
            clock_offset_ms=received_at - viewer_send,
            dims=_dims(server, beacon),
            events=events,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        # AttributeError: a context or sdk block that is not an object.
        raise RecordError(f"not a beacon record: {exc!r}"[:300]) from exc
