"""The steering records on Kafka: viewer groups and the live CDN figure (``cdn-scores``, compacted).

A score agent in the stream worker aggregates beacons into one :class:`CdnScore` per CDN and group
over a short window, and publishes it keyed ``cdn|group``. Because the topic is compacted, a
consumer that starts late still gets the latest figure of every key; the gateway's score board
(:mod:`delivery.steering.scores`) reads them.

Groups are (country or region, ASN, device class, stream type). A fine group often has too few
views to be trusted, so the agent publishes every level of the back-off chain (see
:meth:`Group.backoff_chain`): exact → without ASN → without device → country only → global.
Percentiles such as the VST p50 cannot be rebuilt from finer groups, which is why the agent
publishes the coarse levels itself instead of the board summing them up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

ANY: Final = "*"  # wildcard of a group field in keys and on the wire
ENCODING_VERSION: Final = 1
MAX_ASN: Final = 4_294_967_295
_LABEL = re.compile(r"^[a-z0-9_.-]{1,32}$")
_COUNTRY_OR_REGION = re.compile(r"^[A-Z]{2}$|^[a-z0-9_-]{1,32}$")
STREAM_TYPES: Final = frozenset({"vod", "live"})
# Device classes of a group. A closed set keeps the number of groups (and of policy states) small;
# the score agent must map devices the same way, through :func:`device_class`.
DEVICE_CLASSES: Final = frozenset({"desktop", "mobile", "tablet", "tv", "console"})
_DEVICE_ALIASES: Final = {
    "phone": "mobile",
    "smartphone": "mobile",
    "smarttv": "tv",
    "ctv": "tv",
    "stb": "tv",
    "pc": "desktop",
}


def device_class(label: str) -> str:
    """The group's device class for a device label, or "" (any) when it is not one we know."""
    cleaned = label.strip().lower()
    cleaned = _DEVICE_ALIASES.get(cleaned, cleaned)
    return cleaned if cleaned in DEVICE_CLASSES else ""


class ScoreDecodeError(ValueError):
    """A published record that does not follow the encoding: the consumer skips it and counts it."""


def _check_group_fields(country: str, asn: int | None, device: str, stream_type: str) -> None:
    if country and not _COUNTRY_OR_REGION.match(country):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code or a region label, got {country!r}")
    if asn is not None and not 0 <= asn <= MAX_ASN:
        raise ValueError(f"asn must be within 0..{MAX_ASN}, got {asn}")
    if device and not _LABEL.match(device):
        raise ValueError(f"device must be a lowercase label of at most 32 characters, got {device!r}")
    if stream_type and stream_type not in STREAM_TYPES:
        raise ValueError(f"stream_type must be one of {sorted(STREAM_TYPES)}, got {stream_type!r}")


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """Clients that are expected to see the same CDN performance. Empty / None fields mean "any"."""

    country: str = ""
    asn: int | None = None
    device: str = ""
    stream_type: str = ""

    def __post_init__(self) -> None:
        _check_group_fields(self.country, self.asn, self.device, self.stream_type)

    @property
    def key(self) -> str:
        """``country/asn/device/stream_type`` with ``*`` for "any", e.g. ``NO/2119/mobile/live``."""
        asn = ANY if self.asn is None else str(self.asn)
        return "/".join((self.country or ANY, asn, self.device or ANY, self.stream_type or ANY))

    @classmethod
    def from_key(cls, key: str) -> Group:
        parts = key.split("/")
        if len(parts) != 4:
            raise ValueError(f"a group key has 4 fields separated by '/', got {key!r}")
        country, asn, device, stream_type = (None if part == ANY else part for part in parts)
        try:
            asn_value = None if asn is None else int(asn)
        except ValueError:
            raise ValueError(f"group key {key!r}: ASN {asn!r} is not an integer") from None
        return cls(country or "", asn_value, device or "", stream_type or "")

    def backoff_chain(self) -> tuple[Group, ...]:
        """This group, then ever coarser ones: without ASN, without device, country only, global.

        Levels that repeat (because a field already was "any") appear once.
        """
        levels = (
            self,
            Group(self.country, None, self.device, self.stream_type),
            Group(self.country, None, "", self.stream_type),
            Group(self.country, None, "", ""),
            GLOBAL,
        )
        return tuple(dict.fromkeys(levels))


GLOBAL: Final = Group()


def _finite_in(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be within [{low}, {high}], got {value}")


@dataclass(frozen=True, slots=True)
class CdnScore:
    """QoE figures of one CDN for one group over one window (REFERENCE §2 definitions)."""

    cdn: str
    group: Group
    views: int  # sample size: views active in the window
    rebuffering_ratio: float  # Σ stall time ÷ Σ watch time
    vst_p50_ms: float
    failure_rate: float  # (VSF + VPF failures) ÷ attempts
    avg_bitrate_kbps: float  # time-weighted
    qoe_score: float  # 0–100, the platform's score
    window_end: datetime  # UTC, end of the aggregation window
    window_s: int = 60
    # Median over views of (recent segment throughput ÷ the view's own throughput level): about 1
    # normally, far below when the CDN slows everyone down. Each view is its own control, so the
    # figure does not depend on who the CDN serves (None: not measured).
    throughput_ratio_p50: float | None = None
    throughput_ratio_views: int = 0  # sample size of that median
    # The same over the views whose latest download is only seconds old: what a slowdown shows in first.
    recent_ratio_p50: float | None = None
    recent_ratio_views: int = 0

    def __post_init__(self) -> None:
        if not _LABEL.match(self.cdn.lower()) or self.cdn != self.cdn.strip():
            raise ValueError(f"cdn must be a label of at most 32 characters [A-Za-z0-9_.-], got {self.cdn!r}")
        if self.views < 0:
            raise ValueError(f"views must be >= 0, got {self.views}")
        _finite_in("rebuffering_ratio", self.rebuffering_ratio, 0.0, 1.0)
        _finite_in("failure_rate", self.failure_rate, 0.0, 1.0)
        _finite_in("vst_p50_ms", self.vst_p50_ms, 0.0, 3_600_000.0)
        _finite_in("avg_bitrate_kbps", self.avg_bitrate_kbps, 0.0, 1_000_000.0)
        _finite_in("qoe_score", self.qoe_score, 0.0, 100.0)
        if self.window_end.tzinfo is None or self.window_end.utcoffset() != timedelta(0):
            raise ValueError("window_end must be timezone-aware UTC")
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")
        for ratio, views, name in (
            (self.throughput_ratio_p50, self.throughput_ratio_views, "throughput_ratio"),
            (self.recent_ratio_p50, self.recent_ratio_views, "recent_ratio"),
        ):
            if ratio is not None:
                _finite_in(f"{name}_p50", ratio, 0.0, 1000.0)
            if views < 0 or (ratio is None and views):
                raise ValueError(f"{name}_views must be >= 0, and 0 without a ratio")

    @property
    def kafka_key(self) -> bytes:
        """``cdn|group-key``: the compacted topic keeps the latest record of each key."""
        return f"{self.cdn}|{self.group.key}".encode()

    def age_s(self, now: datetime) -> float:
        return (now - self.window_end).total_seconds()

    def is_stale(self, now: datetime, max_age_s: float) -> bool:
        return self.age_s(now) > max_age_s

    # --- wire format ---------------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Compact flat JSON. Short keys, because every CDN×group pair is republished every window."""
        optional: dict[str, float | int] = {}
        if self.throughput_ratio_p50 is not None:
            optional |= {"tr": round(self.throughput_ratio_p50, 4), "tn": self.throughput_ratio_views}
        if self.recent_ratio_p50 is not None:
            optional |= {"rt": round(self.recent_ratio_p50, 4), "rn": self.recent_ratio_views}
        return orjson.dumps(
            {
                "v": ENCODING_VERSION,
                "cdn": self.cdn,
                "g": self.group.key,
                "n": self.views,
                "rr": round(self.rebuffering_ratio, 6),
                "vst": round(self.vst_p50_ms, 1),
                "fr": round(self.failure_rate, 6),
                "br": round(self.avg_bitrate_kbps, 1),
                "q": round(self.qoe_score, 3),
                "t": int(self.window_end.timestamp() * 1000),
                "w": self.window_s,
                **optional,
            }
        )

    @classmethod
    def from_json(cls, payload: bytes | str) -> CdnScore:
        """Decode :meth:`to_json` output; any deviation raises :class:`ScoreDecodeError`."""
        try:
            raw: Any = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ScoreDecodeError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ScoreDecodeError("a score record is a JSON object")
        if raw.get("v") != ENCODING_VERSION:
            raise ScoreDecodeError(f"unsupported score encoding version {raw.get('v')!r}")
        try:
            return cls(
                cdn=_typed(raw, "cdn", str),
                group=Group.from_key(_typed(raw, "g", str)),
                views=_typed(raw, "n", int),
                rebuffering_ratio=float(_typed(raw, "rr", (int, float))),
                vst_p50_ms=float(_typed(raw, "vst", (int, float))),
                failure_rate=float(_typed(raw, "fr", (int, float))),
                avg_bitrate_kbps=float(_typed(raw, "br", (int, float))),
                qoe_score=float(_typed(raw, "q", (int, float))),
                window_end=datetime.fromtimestamp(_typed(raw, "t", int) / 1000, tz=UTC),
                window_s=_typed(raw, "w", int),
                throughput_ratio_p50=float(_typed(raw, "tr", (int, float))) if "tr" in raw else None,
                throughput_ratio_views=_typed(raw, "tn", int) if "tn" in raw else 0,
                recent_ratio_p50=float(_typed(raw, "rt", (int, float))) if "rt" in raw else None,
                recent_ratio_views=_typed(raw, "rn", int) if "rn" in raw else 0,
            )
        except (ValueError, OverflowError, OSError) as exc:
            raise ScoreDecodeError(str(exc)) from None


def _typed(raw: dict[str, Any], key: str, kind: Any) -> Any:
    value = raw.get(key)
    # bool is an int in Python; a JSON true is never a count or a rate.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ScoreDecodeError(f"field {key!r} is missing or has the wrong type ({value!r})")
    return value
