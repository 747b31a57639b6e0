"""Which property a beacon or CMCD report belongs to, from its public property key.

A key that is present is always checked: unknown or revoked keys answer 403, and so does a
browser posting from an origin the property does not allow. A missing key answers 401 when the
settings require keys, else the post joins the default property. The keys come from the warehouse
API (``GET /v1/properties``, with the gateway's admin token) through a snapshot
(:class:`foundation.properties.PropertyKeys`), so a warehouse outage does not stop players.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from foundation.properties import DEFAULT_PROPERTY, Property, PropertyKeys, origin_allowed, valid_property_key

PROPERTIES_PATH = "/v1/properties"
LOAD_TIMEOUT_S = 5.0


class PropertyRefusedError(Exception):
    """A post the property check refuses: ``status`` 401, 403 or 503, and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PropertyCheck:
    """The gateway's property policy: the key snapshot (None: no warehouse API to load it from)."""

    keys: PropertyKeys | None
    required: bool

    async def property_of(self, key: str | None, origin: str | None) -> str:
        """The property id a post with ``key`` from ``origin`` belongs to; PropertyRefusedError otherwise."""
        if key is None:
            if self.required:
                raise PropertyRefusedError(401, "property_key is missing: players post with their property's key")
            return DEFAULT_PROPERTY
        if not valid_property_key(key):
            raise PropertyRefusedError(403, "property_key is not a property key (qoe_pk_ and 24 hex digits)")
        if self.keys is None:
            raise PropertyRefusedError(503, "property keys cannot be checked here: no warehouse API is configured")
        found = await self.keys.lookup(key)
        if found is None:
            if not self.keys.loaded:
                raise PropertyRefusedError(503, "property keys are not loaded yet: retry later")
            raise PropertyRefusedError(403, "property_key is unknown or revoked")
        if not origin_allowed(found.origins, origin):
            raise PropertyRefusedError(403, f"origin {origin} may not post for property {found.property_id}")
        return found.property_id


def warehouse_loader(
    client: httpx.AsyncClient, upstream: str, headers: Callable[[], dict[str, str]]
) -> Callable[[], Awaitable[Iterable[Property]]]:
    """Loads every property from the warehouse API; raises when it cannot (the snapshot stays).
    ``headers`` is asked at each load: ``qoe up`` writes the admin token after the gateway starts."""

    async def load() -> list[Property]:
        response = await client.get(f"{upstream}{PROPERTIES_PATH}", headers=headers(), timeout=LOAD_TIMEOUT_S)
        response.raise_for_status()
        return [Property.from_json(item) for item in response.json()["properties"]]

    return load
