"""What ingest trusts and refuses beyond the schema: geo headers by peer, event times by its own clock.

The beacon schema checks what a beacon says about itself (bounds, a span of at most a day). Only
the server knows when the beacon arrived and from whom, so the checks that need that live here,
and so does the *source* stamped on each record: an opaque id of who sent it, by which the live
CDN figures cap what one client can weigh in them (docs/steering.md, docs/security.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import SecretStr
from starlette.types import Scope

from foundation.settings import Settings, default_of
from ingest.limits import client_address
from schemas import MAX_BEACON_SPAN_MS, Beacon, ErrorDetail

DAY_MS = 86_400_000
MIN_HMAC_KEY_CHARS = 16  # a short key could be found by trying keys against known viewer ids
MAX_TIME_ERRORS = 20
# A source id is this many bytes of an HMAC-SHA256: sources only need to be told apart within a
# figure's window, and a collision merely makes two clients share one cap.
SOURCE_ID_BYTES = 12
# The key is the viewer-id key when one is set: this label keeps a source id from ever equalling
# the pseudonym of a viewer id that reads like an address.
SOURCE_LABEL = b"qoe-source\x00"
# An IPv6 client is given a whole /64 (often more): one address per source would hand an
# attacker 2^64 sources.
IPV6_CLIENT_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IntakeConfig:
    """Ingest's trust and retention rules, built once per app from the settings."""

    trusted_proxies: str = default_of("trusted_proxies")
    viewer_id_hmac_key: SecretStr | None = field(default=default_of("viewer_id_hmac_key"), repr=False)
    raw_retention_days: int = default_of("raw_retention_days")
    networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    # The key of source ids: the viewer-id key, so that every gateway replica (they share that
    # Secret) gives a client the same source and the cap holds across replicas. Unset (a single
    # development gateway), a random key of this process: nobody can turn a source back into an
    # address, at the price that replicas without the key would each give a client its own source.
    source_key: bytes = field(init=False, repr=False, compare=False)
    _trusted: Callable[[str], bool] = field(init=False, repr=False, compare=False)
    _source: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", parse_networks(self.trusted_proxies))
        key = self.hmac_key
        if key is not None and len(key) < MIN_HMAC_KEY_CHARS:
            raise ValueError(f"QOE_VIEWER_ID_HMAC_KEY must be at least {MIN_HMAC_KEY_CHARS} characters long")
        object.__setattr__(self, "source_key", key if key is not None else secrets.token_bytes(32))
        # Every beacon asks about its peer and its forwarded addresses: parsing them costs more than the rest.
        object.__setattr__(self, "_trusted", lru_cache(maxsize=4096)(self._in_networks))
        # A player posts every few seconds from the same address: hash it once while it is active.
        object.__setattr__(self, "_source", lru_cache(maxsize=65_536)(self._source_id))

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeConfig:
        return cls(
            trusted_proxies=settings.trusted_proxies,
            viewer_id_hmac_key=settings.viewer_id_hmac_key,
            raw_retention_days=settings.raw_retention_days,
        )

    @property
    def hmac_key(self) -> bytes | None:
        """The viewer-id key, or None when viewer ids are stored as sent (unset or empty)."""
        secret = self.viewer_id_hmac_key.get_secret_value() if self.viewer_id_hmac_key is not None else ""
        return secret.encode() or None

    def trusts(self, peer: str | None) -> bool:
        """Whether the peer address (the request's client host) is in a trusted proxy network."""
        if not peer or not self.networks:
            return False
        return self._trusted(peer)

    def source_of(self, scope: Scope) -> str | None:
        """The opaque source id of a request's client, resolved as the rate limits resolve it.

        None when that client is a trusted proxy itself, one that named no client: the platform's
        own traffic (the demo, a simulated audience, local tools), which no cap applies to.
        """
        address = client_address(scope, self.trusts)
        if self.trusts(address):
            return None
        return self._source(address)

    def _source_id(self, address: str) -> str:
        return source_id(self.source_key, address)

    def _in_networks(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a Unix socket path, or a test client's name: nothing to trust
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address in network for network in self.networks)


def source_id(key: bytes, address: str, property_id: str = "") -> str:
    """HMAC-SHA256 of (property, client network) under ``key``, truncated, as hex.

    ``property_id`` is empty until property keys exist. Folded in then, one address under two
    properties is two sources, so one property's traffic never uses up another's cap.
    """
    message = SOURCE_LABEL + property_id.encode() + b"\x00" + client_network(address).encode()
    return hmac.digest(key, message, "sha256")[:SOURCE_ID_BYTES].hex()


def client_network(address: str) -> str:
    """What one client controls: an IPv4 address, or the /64 of an IPv6 one (IPv4-mapped: the IPv4)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # "unknown", or a test client's name: one source all the same
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return f"{ip.packed[: IPV6_CLIENT_PREFIX // 8].hex()}/{IPV6_CLIENT_PREFIX}"  # a network object costs 10×
    return address


def parse_networks(cidrs: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (a bare address is one host); a clear error names a wrong one."""
    networks = []
    for part in (p.strip() for p in cidrs.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise ValueError(f"QOE_TRUSTED_PROXIES: {part!r} is not a network in CIDR notation ({exc})") from exc
    return tuple(networks)


def time_errors(beacon: Beacon, received_at: int, retention_days: int) -> list[ErrorDetail]:
    """The fields whose times the server refuses, judged by its receive time ``received_at``.

    - ``sent_at`` or an event more than a day from the receive time: a wrong device clock, or a
      beacon replayed long after; its times would land far from the views they belong to.
    - An event older than the raw-event retention, on the server's clock (the viewer's clock
      corrected by the beacon's skew, as the sessionizer does): it would vanish under the TTL
      after a 202. With the day limit above this can only happen with a retention under a day,
      but the rule does not depend on that.
    """
    times = [event.ts for event in beacon.events]
    sent_at = beacon.sent_at
    # received_at − viewer clock; without sent_at, the newest event stands in for the send time.
    skew = received_at - (sent_at if sent_at is not None else max(times))
    oldest_kept = received_at - retention_days * DAY_MS
    lowest, highest = min(times), max(times)
    if (
        lowest + skew >= oldest_kept
        and received_at - lowest <= MAX_BEACON_SPAN_MS
        and highest - received_at <= MAX_BEACON_SPAN_MS
        and (sent_at is None or abs(sent_at - received_at) <= MAX_BEACON_SPAN_MS)
    ):
        return []  # the common case, without a look at each event
    errors = []
    if sent_at is not None and abs(sent_at - received_at) > MAX_BEACON_SPAN_MS:
        errors.append(ErrorDetail(field="sent_at", message=_off_clock(sent_at, received_at, "be sent")))
    for index, ts in enumerate(times):
        field_name = f"events[{index}].ts"
        if ts + skew < oldest_kept:
            days = (received_at - ts - skew) / DAY_MS
            message = (
                f"happened {days:.1f} days before it arrived (server clock), beyond the raw-event "
                f"retention of {retention_days} days: it would be deleted on arrival"
            )
            errors.append(ErrorDetail(field=field_name, message=message))
        elif abs(ts - received_at) > MAX_BEACON_SPAN_MS:
            errors.append(ErrorDetail(field=field_name, message=_off_clock(ts, received_at, "happen")))
    return errors[:MAX_TIME_ERRORS]


def _off_clock(ts: int, received_at: int, what: str) -> str:
    hours = abs(ts - received_at) / 3_600_000
    side = "before" if ts < received_at else "after"
    limit = MAX_BEACON_SPAN_MS / 3_600_000
    return (
        f"is {hours:.1f} h {side} the server's clock when the beacon arrived; it must {what} within "
        f"{limit:.0f} h of arriving (is the device's clock right?)"
    )
