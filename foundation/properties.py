"""Property keys: the public, write-only keys players send their beacons and CMCD reports with.

A property is an app, brand or environment that one deployment serves (Mux calls it an
environment). Its key, ``qoe_pk_<24 hex digits>``, sits in the player's page or app, so it is
public: it grants nothing but the right to post beacons and CMCD reports for that property, and
only from the property's allowed origins (a browser's ``Origin``; an app without one is judged by
the key alone). Events are stored with their property id, so reads can filter by it.

The warehouse owns the ``properties`` table (``warehouse.properties``); the gateway must not read
the warehouse, so it checks keys against a snapshot (:class:`PropertyKeys`) that a loader the
composition root gives refreshes, keeping the last good snapshot while the warehouse is away:
players keep posting through a warehouse outage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.beacon import PROPERTY_KEY_PATTERN

log = logging.getLogger(__name__)

KEY_PREFIX = "qoe_pk_"
_KEY = re.compile(PROPERTY_KEY_PATTERN)
PROPERTY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # a property id: see valid_property_id
_PROPERTY_ID = re.compile(PROPERTY_ID_PATTERN)
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
DEFAULT_PROPERTY = "default"  # the property ``qoe up`` creates, and beacons without a key join when keys are optional


def new_property_key() -> str:
    return f"{KEY_PREFIX}{secrets.token_hex(12)}"


def valid_property_key(text: str) -> bool:
    return bool(_KEY.fullmatch(text))


def valid_property_id(text: str) -> bool:
    """A slug: lower-case letters, digits and dashes, up to 63, as it appears in every stored row."""
    return bool(_PROPERTY_ID.fullmatch(text))


def valid_origin(text: str) -> bool:
    """``https://www.example.com``, ``http://localhost:8000`` or ``https://*.example.com``: no path."""
    return bool(_ORIGIN.fullmatch(text))


def origin_allowed(origins: Iterable[str], origin: str | None) -> bool:
    """Whether a request's ``Origin`` may post for a property with these allowed origins.

    No allowed origins: any. No ``Origin`` (an app, a server, a smart TV): the key alone decides,
    since only browsers send one and only browsers can be made to post from a stranger's page.
    """
    allowed = tuple(origins)
    if not allowed or origin is None:
        return True
    origin = origin.rstrip("/").lower()
    return any(_origin_matches(pattern.lower(), origin) for pattern in allowed)


def _origin_matches(pattern: str, origin: str) -> bool:
    if "://*." not in pattern:
        return pattern == origin
    scheme, _, suffix = pattern.partition("://*.")
    prefix = f"{scheme}://"
    return origin.startswith(prefix) and origin.endswith(f".{suffix}") and len(origin) > len(prefix) + len(suffix) + 1


@dataclass(frozen=True)
class Property:
    """One property as stored: its id, its public key, where its players may post from."""

    property_id: str
    name: str
    key: str
    origins: tuple[str, ...] = ()
    created_at: datetime | None = None
    created_by: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "property_id": self.property_id,
            "name": self.name,
            "key": self.key,
            "origins": list(self.origins),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "active": self.active,
            "revoked_at": _iso(self.revoked_at),
            "revoked_by": self.revoked_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Property:
        return cls(
            property_id=str(data["property_id"]),
            name=str(data.get("name", "")),
            key=str(data["key"]),
            origins=tuple(str(origin) for origin in data.get("origins", ())),
            created_by=str(data.get("created_by", "")),
            revoked_by=str(data.get("revoked_by", "")),
            revoked_at=None if data.get("active", True) else datetime.fromisoformat(str(data["revoked_at"])),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass
class PropertyKeys:
    """Active property keys, from a snapshot that ``load`` refreshes every ``refresh_every_s``.

    ``load`` returns every property (revoked ones are dropped here). A failed load keeps the last
    good snapshot (keys change rarely, and beacons must not stop while the warehouse is away); an
    unknown key reloads them, at most every ``unknown_reload_s`` (a lookup waits for the next
    allowed reload), so a property works as soon as ``qoe properties create`` returns; unknown
    keys cost a reload a second, not one each. Concurrent lookups share one reload.
    """

    load: Callable[[], Awaitable[Iterable[Property]]]
    refresh_every_s: float = 5.0
    unknown_reload_s: float = 1.0
    _by_key: dict[str, Property] = field(default_factory=dict, init=False)
    _loaded_at: float = field(default=-math.inf, init=False)
    _tried_at: float = field(default=-math.inf, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    @property
    def loaded(self) -> bool:
        """Whether any snapshot has loaded: before that, no key can be judged."""
        return self._loaded_at > -math.inf

    async def lookup(self, key: str) -> Property | None:
        """The active property of ``key``, or None when the loaded snapshot does not know it."""
        if time.monotonic() - self._loaded_at > self.refresh_every_s:
            await self.reload()
        found = self._by_key.get(key)
        if found is None and valid_property_key(key):
            # A key created just after the last reload must not be refused: wait for the next
            # allowed one (concurrent lookups share it) rather than answer 403 to a new property.
            asked_at = time.monotonic()
            await asyncio.sleep(max(0.0, self._tried_at + self.unknown_reload_s - asked_at))
            await self.reload(asked_at)
            found = self._by_key.get(key)
        return found

    async def reload(self, asked_at: float | None = None) -> None:
        """Load the snapshot, unless another lookup did since ``asked_at`` (default: now)."""
        asked_at = time.monotonic() if asked_at is None else asked_at
        async with self._lock:
            if self._tried_at >= asked_at:  # another lookup reloaded while this one waited
                return
            self._tried_at = time.monotonic()
            try:
                snapshot = {prop.key: prop for prop in await self.load() if prop.active}
            except Exception as exc:  # the loader crosses a network: keep serving the last snapshot
                log.warning("property keys not reloaded (%s: %s); keeping the last snapshot", type(exc).__name__, exc)
                return
            self._by_key = snapshot
            self._loaded_at = time.monotonic()
