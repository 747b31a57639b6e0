"""CDNs on top of the viewer's last mile: per-area performance, per-ISP peering, and incidents.

A viewer's link is a throughput trace. The CDN serving a request scales that trace's bandwidth
(an edge far away or badly peered delivers less of it), adds latency, and fails a share of
requests. Profiles are per CDN and continental zone; each (CDN, ASN) pair gets a fixed peering
factor on top, so groups of viewers differ in which CDN serves them best, the structure that
CFA and Pytheas exploit. These profiles are scenario parameters, not measurements.

Incidents change a CDN's behaviour for a time window, optionally only in one zone or country:

    cdn-b:degrade:60s-180s          throughput × 0.25 (or ``degrade=0.1``) for 2 minutes
    cdn-b@eu:outage:2m-4m           every request to cdn-b from Europe fails
    cdn-a@US:latency=800:0-          +800 ms per request in the US, from the start on
    cdn-c:errors=0.3:90s+60s        30% of requests answer 503, for 60 s from 90 s
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

ZONES = ("na", "eu", "apac", "sa")
DEFAULT_CDNS = ("cdn-a", "cdn-b", "cdn-c")


@dataclass(frozen=True, slots=True)
class CdnProfile:
    throughput_factor: float  # share of the last-mile bandwidth this CDN delivers
    latency_ms: float  # added to the trace's latency on every request
    failure_prob: float  # share of requests that fail
    outage: bool = False  # no connection at all


# Each CDN is strong on its home zone and weaker elsewhere (assumed, see the module docstring).
DEFAULT_PROFILES: dict[str, dict[str, CdnProfile]] = {
    "cdn-a": {
        "na": CdnProfile(1.0, 8, 0.001),
        "eu": CdnProfile(0.9, 20, 0.001),
        "apac": CdnProfile(0.75, 45, 0.002),
        "sa": CdnProfile(0.8, 40, 0.002),
    },
    "cdn-b": {
        "na": CdnProfile(0.85, 20, 0.002),
        "eu": CdnProfile(1.0, 6, 0.001),
        "apac": CdnProfile(0.7, 60, 0.003),
        "sa": CdnProfile(0.7, 55, 0.003),
    },
    "cdn-c": {
        "na": CdnProfile(0.8, 25, 0.002),
        "eu": CdnProfile(0.8, 25, 0.002),
        "apac": CdnProfile(1.0, 8, 0.001),
        "sa": CdnProfile(0.95, 12, 0.001),
    },
}
UNKNOWN_CDN_PROFILE = CdnProfile(0.9, 20, 0.002)
PEERING_SPREAD = 0.15  # sd of ln(peering factor) over (CDN, ASN) pairs

INCIDENT_KINDS = {"degrade": 0.25, "outage": 1.0, "latency": 500.0, "errors": 0.3}  # kind → default severity
INCIDENT_FORMAT = "CDN[@ZONE|@COUNTRY]:KIND[=SEVERITY]:START-END (e.g. cdn-b:degrade:60s-180s)"
_SPEC = re.compile(
    r"^(?P<cdn>[A-Za-z0-9_.-]+)(?:@(?P<where>[A-Za-z]+))?:(?P<kind>[a-z]+)(?:=(?P<severity>[0-9.]+))?"
    r":(?P<start>[0-9.]+[a-z]*)(?P<sep>[-+])(?P<end>[0-9.]*[a-z]*)$"
)
_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, None: 1000.0}


class IncidentError(ValueError):
    """An incident spec that cannot be parsed, with what was expected."""


def parse_duration_ms(text: str) -> float:
    """``90``, ``90s``, ``1.5m``, ``250ms``, ``2h`` as milliseconds (a bare number is seconds)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 90, 90s, 1.5m, 250ms or 2h")
    return float(match["value"]) * _UNIT_MS[match["unit"]]


@dataclass(frozen=True, slots=True)
class Incident:
    cdn: str
    kind: str  # degrade, outage, latency, errors
    start_ms: float
    end_ms: float  # math.inf when open-ended
    severity: float
    where: str = ""  # a zone (lowercase) or a country code (uppercase); empty: everywhere

    def applies(self, cdn: str, zone: str, country: str, now_ms: float) -> bool:
        if cdn != self.cdn or not self.start_ms <= now_ms < self.end_ms:
            return False
        return not self.where or self.where in (zone, country)

    def apply(self, profile: CdnProfile) -> CdnProfile:
        if self.kind == "degrade":
            return replace(
                profile,
                throughput_factor=profile.throughput_factor * self.severity,
                failure_prob=min(1.0, profile.failure_prob + 0.01),
            )
        if self.kind == "outage":
            return replace(profile, outage=True, failure_prob=1.0)
        if self.kind == "latency":
            return replace(profile, latency_ms=profile.latency_ms + self.severity)
        return replace(profile, failure_prob=min(1.0, profile.failure_prob + self.severity))


def parse_incident(spec: str, cdns: Sequence[str] | None = None) -> Incident:
    """Parse ``CDN[@WHERE]:KIND[=SEVERITY]:START-END`` (END may be empty; ``START+LENGTH`` too)."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise IncidentError(f"bad incident {spec!r}: expected {INCIDENT_FORMAT}")
    kind = match["kind"]
    if kind not in INCIDENT_KINDS:
        raise IncidentError(f"bad incident {spec!r}: kind {kind!r} is not one of {', '.join(INCIDENT_KINDS)}")
    if cdns is not None and match["cdn"] not in cdns:
        raise IncidentError(f"bad incident {spec!r}: unknown CDN {match['cdn']!r}; the CDNs are {', '.join(cdns)}")
    where = match["where"] or ""
    if where and where not in ZONES and not (len(where) == 2 and where.isupper()):
        raise IncidentError(f"bad incident {spec!r}: {where!r} is neither a zone ({', '.join(ZONES)}) nor a country")
    try:
        start = parse_duration_ms(match["start"])
        if match["sep"] == "+":
            end = start + parse_duration_ms(match["end"])
        else:
            end = parse_duration_ms(match["end"]) if match["end"] else math.inf
        severity = float(match["severity"]) if match["severity"] else INCIDENT_KINDS[kind]
    except ValueError as exc:
        raise IncidentError(f"bad incident {spec!r}: {exc}") from exc
    if end <= start:
        raise IncidentError(f"bad incident {spec!r}: it must end after it starts")
    if kind in ("degrade", "errors") and not 0 <= severity <= 1:
        raise IncidentError(f"bad incident {spec!r}: a {kind} severity is a fraction in [0, 1]")
    return Incident(match["cdn"], kind, start, end, severity, where)


class Network:
    """The conditions a request meets: CDN profile × peering × incidents, at a time and place."""

    def __init__(
        self,
        cdns: Sequence[str] = DEFAULT_CDNS,
        *,
        profiles: Mapping[str, Mapping[str, CdnProfile]] | None = None,
        incidents: Sequence[Incident] = (),
        seed: int = 0,
        peering_spread: float = PEERING_SPREAD,
    ) -> None:
        if not cdns or len(set(cdns)) != len(cdns):
            raise ValueError("the CDN list must be non-empty and without repeats")
        self.cdns = tuple(cdns)
        self._profiles = DEFAULT_PROFILES if profiles is None else profiles
        self.incidents = tuple(incidents)
        self._seed = seed
        self._peering_spread = peering_spread
        self._base: dict[tuple[str, str, int], CdnProfile] = {}

    def peering_factor(self, cdn: str, asn: int) -> float:
        """A fixed factor per (CDN, ASN) in (0, 1]: how well that ISP reaches that CDN."""
        draw = random.Random(f"peering:{self._seed}:{cdn}:{asn}").gauss(0.0, self._peering_spread)
        return min(1.0, math.exp(draw))

    def base(self, cdn: str, zone: str, asn: int) -> CdnProfile:
        key = (cdn, zone, asn)
        profile = self._base.get(key)
        if profile is None:
            area = self._profiles.get(cdn, {})
            profile = area.get(zone, UNKNOWN_CDN_PROFILE)
            profile = replace(profile, throughput_factor=profile.throughput_factor * self.peering_factor(cdn, asn))
            self._base[key] = profile
        return profile

    def conditions(self, cdn: str, zone: str, country: str, asn: int, now_ms: float) -> CdnProfile:
        profile = self.base(cdn, zone, asn)
        for incident in self.incidents:
            if incident.applies(cdn, zone, country, now_ms):
                profile = incident.apply(profile)
        return profile
