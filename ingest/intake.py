"""What ingest trusts and refuses beyond the schema: geo headers by peer, event times by its own clock.

The beacon schema checks what a beacon says about itself (bounds, a span of at most a day). Only
the server knows when the beacon arrived and from whom, so the checks that need that live here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pydantic import SecretStr

from foundation.settings import Settings, default_of
from schemas import MAX_BEACON_SPAN_MS, Beacon, ErrorDetail

DAY_MS = 86_400_000
MIN_HMAC_KEY_CHARS = 16  # a short key could be found by trying keys against known viewer ids
MAX_TIME_ERRORS = 20

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IntakeConfig:
    """Ingest's trust and retention rules, built once per app from the settings."""

    trusted_proxies: str = default_of("trusted_proxies")
    viewer_id_hmac_key: SecretStr | None = field(default=default_of("viewer_id_hmac_key"), repr=False)
    raw_retention_days: int = default_of("raw_retention_days")
    networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", parse_networks(self.trusted_proxies))
        key = self.hmac_key
        if key is not None and len(key) < MIN_HMAC_KEY_CHARS:
            raise ValueError(f"QOE_VIEWER_ID_HMAC_KEY must be at least {MIN_HMAC_KEY_CHARS} characters long")

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
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a Unix socket path, or a test client's name: nothing to trust
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address in network for network in self.networks)


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
