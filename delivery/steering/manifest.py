"""Steering manifests (HLS content steering and DASH-IF content steering) and the player's query.

The manifest is JSON (REFERENCE §6)::

    {"VERSION": 1, "TTL": 20, "RELOAD-URI": "hls?country=NO&...", "PATHWAY-PRIORITY": ["cdn-a", "cdn-b"],
     "PATHWAY-CLONES": [...]}            # PATHWAY-CLONES only when clones are configured

DASH uses the same document and the same ``PATHWAY-PRIORITY`` key; early drafts of the DASH-IF
specification called it ``SERVICE-LOCATION-PRIORITY`` (players such as video.js still read
that name), which we do not emit.

The RELOAD-URI is a relative reference to the same endpoint carrying the client's group and
what it was last told, so the server keeps no per-client state. Players append their own
``_HLS_pathway`` / ``_HLS_throughput`` (or ``_DASH_pathway`` / ``_DASH_throughput``).

How bad input is handled (a steering request must never get a 5xx):

* A query string longer than :data:`MAX_QUERY_BYTES` → 414; more than :data:`MAX_PARAMS`
  parameters, or one name or value longer than :data:`MAX_VALUE_CHARS` → 400. No player sends
  those, so refusing them is safe and keeps the work per request bounded.
* Anything else that is wrong is ignored and the client gets a valid manifest: an unknown
  pathway (a player may still run a pathway from an older configuration), a throughput that is
  not a positive finite number of at most 1 Tbit/s, a country / ASN / device / stream type we
  cannot read (the group just becomes coarser), unreadable state. What was ignored is listed in
  :attr:`SteeringQuery.ignored` for logs and metrics. A repeated parameter counts once: the
  first occurrence wins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlencode

from delivery.steering.policy import PATHWAY_ID
from schemas.steering import MAX_ASN, STREAM_TYPES, Group, device_class

Protocol = Literal["hls", "dash"]
MAX_QUERY_BYTES: Final = 4096
MAX_PARAMS: Final = 32
MAX_VALUE_CHARS: Final = 256
MAX_THROUGHPUT_BPS: Final = 10**12
MAX_TTL_S: Final = 86_400

# Our own query parameters, set on the SERVER-URI by whoever writes the multivariant playlist
# (it knows the viewer's geo and device) and carried forward in every RELOAD-URI.
COUNTRY, ASN, DEVICE, STREAM_TYPE = "country", "asn", "device", "stream_type"
# What the client was told last: the group's decision version, the order, and whether that order
# was personal to this client (exploring or capped) rather than the group's.
STATE_VERSION, STATE_PRIORITY, STATE_PERSONAL = "qoe_v", "qoe_p", "qoe_x"
PLAYER_PARAMS: Final[Mapping[Protocol, tuple[str, str]]] = {
    "hls": ("_HLS_pathway", "_HLS_throughput"),
    "dash": ("_DASH_pathway", "_DASH_throughput"),
}
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_REGION = re.compile(r"^[a-z0-9_-]{3,32}$")
_ASN = re.compile(r"^(?:AS)?([0-9]{1,10})$", re.IGNORECASE)


class SteeringQueryError(ValueError):
    """A request we refuse outright; the HTTP layer answers ``status_code`` with the message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class ReloadState:
    """What the RELOAD-URI carries besides the group: what this client was told last time.

    A steering replica that has no state for the group (it just started, or another replica
    served the group so far) continues from the group order clients report, so restarts and load
    balancing do not reset the hysteresis.
    """

    version: int = 0
    priority: tuple[str, ...] = ()
    personal: bool = False  # the order was this client's own (exploring or capped), not the group's


@dataclass(frozen=True, slots=True)
class SteeringQuery:
    protocol: Protocol
    group: Group
    current_pathway: str | None = None  # the (first) pathway the player reports, when known
    reported_pathways: tuple[str, ...] = ()  # DASH may report several
    throughput_bps: int | None = None
    state: ReloadState = ReloadState()
    ignored: tuple[str, ...] = field(default=())  # what was unreadable, and why


@dataclass(frozen=True, slots=True)
class PathwayClone:
    """A pathway the player derives from another one by replacing the host and/or query params."""

    base_id: str
    id: str
    host: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pathway in (self.base_id, self.id):
            if not PATHWAY_ID.match(pathway):
                raise ValueError(f"illegal pathway id {pathway!r} in a clone")
        if self.base_id == self.id:
            raise ValueError(f"clone {self.id!r} cannot be its own base")
        if not self.host and not self.params:
            raise ValueError(f"clone {self.id!r} replaces nothing: give a host and/or params")

    def to_json(self) -> dict[str, Any]:
        replacement: dict[str, Any] = {}
        if self.host:
            replacement["HOST"] = self.host
        if self.params:
            replacement["PARAMS"] = dict(self.params)
        return {"BASE-ID": self.base_id, "ID": self.id, "URI-REPLACEMENT": replacement}


# --- parsing ------------------------------------------------------------------------------------


def check_query_size(raw_query: str, items: Sequence[tuple[str, str]]) -> None:
    """Raise :class:`SteeringQueryError` for the oversized requests we refuse (see module doc)."""
    if len(raw_query.encode()) > MAX_QUERY_BYTES:
        raise SteeringQueryError(414, f"query string longer than {MAX_QUERY_BYTES} bytes")
    if len(items) > MAX_PARAMS:
        raise SteeringQueryError(400, f"more than {MAX_PARAMS} query parameters")
    for name, value in items:
        if len(name) > MAX_VALUE_CHARS or len(value) > MAX_VALUE_CHARS:
            raise SteeringQueryError(400, f"query parameter {name[:40]!r} is longer than {MAX_VALUE_CHARS} characters")


def _first_values(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in items:
        values.setdefault(name, value)
    return values


def parse_country(raw: str) -> str | None:
    """ISO alpha-2 (any case) → upper case; a region label of 3-32 [a-z0-9_-] → as is; else None."""
    value = raw.strip()
    if _COUNTRY.match(value):
        return value.upper()
    return value if _REGION.match(value) else None


def parse_asn(raw: str) -> int | None:
    match = _ASN.match(raw.strip())
    if match is None:
        return None
    asn = int(match.group(1))
    return asn if asn <= MAX_ASN else None


def parse_throughput(raw: str) -> int | None:
    """Bits per second: a positive finite number up to 1 Tbit/s, rounded; else None."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0 or value > MAX_THROUGHPUT_BPS:
        return None
    return round(value)


def parse_pathway_list(raw: str) -> tuple[str, ...]:
    """``cdn-a``, ``"a,b"`` (dash.js quotes its list) or ``a, b`` → the pathway ids, in order."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _group(values: Mapping[str, str], ignored: list[str]) -> Group:
    raw_country, raw_asn, raw_device = (values.get(k, "").strip() for k in (COUNTRY, ASN, DEVICE))
    country = parse_country(raw_country) if raw_country else ""
    if country is None:
        ignored.append(f"{COUNTRY}: not an ISO country code or region label")
    asn = parse_asn(raw_asn) if raw_asn else None
    if raw_asn and asn is None:
        ignored.append(f"{ASN}: not an AS number")
    device = device_class(raw_device)
    if raw_device and not device:
        ignored.append(f"{DEVICE}: not a known device class")
    stream_type = values.get(STREAM_TYPE, "").strip().lower()
    if stream_type and stream_type not in STREAM_TYPES:
        ignored.append(f"{STREAM_TYPE}: not vod or live")
        stream_type = ""
    return Group(country or "", asn, device, stream_type)


def _state(values: Mapping[str, str], known: frozenset[str], ignored: list[str]) -> ReloadState:
    raw_version, raw_priority = values.get(STATE_VERSION, ""), values.get(STATE_PRIORITY, "")
    version = 0
    if raw_version:
        if raw_version.isascii() and raw_version.isdigit() and len(raw_version) <= 12:
            version = int(raw_version)
        else:
            ignored.append(f"{STATE_VERSION}: not a decision version")
    priority = parse_pathway_list(raw_priority)
    if any(p not in known for p in priority) or len(set(priority)) != len(priority):
        ignored.append(f"{STATE_PRIORITY}: names unknown or repeated pathways")
        priority = ()
    raw_personal = values.get(STATE_PERSONAL, "")
    if raw_personal not in ("", "0", "1"):
        ignored.append(f"{STATE_PERSONAL}: not 0 or 1")
    return ReloadState(version, priority, personal=raw_personal == "1")


def parse_query(
    items: Sequence[tuple[str, str]], protocol: Protocol, known_pathways: Sequence[str], raw_query: str = ""
) -> SteeringQuery:
    """Read a steering request's query. Raises :class:`SteeringQueryError` only for oversized input."""
    check_query_size(raw_query, items)
    values = _first_values(items)
    known = frozenset(known_pathways)
    ignored: list[str] = []
    pathway_param, throughput_param = PLAYER_PARAMS[protocol]

    reported = parse_pathway_list(values.get(pathway_param, ""))
    if any(p not in known for p in reported):
        ignored.append(f"{pathway_param}: unknown pathway")
    reported = tuple(p for p in reported if p in known)

    throughput = None
    if throughput_param in values:
        throughput = parse_throughput(values[throughput_param])
        if throughput is None:
            ignored.append(f"{throughput_param}: not a throughput in bits/s")

    return SteeringQuery(
        protocol=protocol,
        group=_group(values, ignored),
        current_pathway=reported[0] if reported else None,
        reported_pathways=reported,
        throughput_bps=throughput,
        state=_state(values, known, ignored),
        ignored=tuple(ignored),
    )


# --- building -----------------------------------------------------------------------------------


def reload_uri(protocol: Protocol, group: Group, state: ReloadState) -> str:
    """Relative reference to the same endpoint, so it works behind any path prefix or host."""
    params = {
        COUNTRY: group.country,
        ASN: "" if group.asn is None else str(group.asn),
        DEVICE: group.device,
        STREAM_TYPE: group.stream_type,
        STATE_VERSION: str(state.version),
        STATE_PRIORITY: ",".join(state.priority),
        STATE_PERSONAL: "1" if state.personal else "",
    }
    return f"{protocol}?{urlencode({k: v for k, v in params.items() if v}, safe=',')}"


def build_manifest(
    priority: Sequence[str],
    *,
    ttl_s: int,
    reload: str,
    clones: Sequence[PathwayClone] = (),
) -> dict[str, Any]:
    """The steering manifest document (same shape for HLS and DASH)."""
    if not priority:
        raise ValueError("PATHWAY-PRIORITY must not be empty")
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"TTL must be within 1..{MAX_TTL_S} s, got {ttl_s}")
    manifest: dict[str, Any] = {
        "VERSION": 1,
        "TTL": int(ttl_s),
        "RELOAD-URI": reload,
        "PATHWAY-PRIORITY": list(priority),
    }
    if clones:
        manifest["PATHWAY-CLONES"] = [clone.to_json() for clone in clones]
    return manifest
