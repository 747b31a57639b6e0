"""Properties and their public keys (issue 12). Owns ``properties``.

A property (:class:`foundation.properties.Property`) is an app, brand or environment whose players
post beacons with its public, write-only key. One row per property and version
(ReplacingMergeTree): creating a property writes its first version, revoking it writes a newer one
with ``revoked_at`` set, so a revocation is an insert, visible to the gateway's next key snapshot
without a mutation. Reads take the newest version with FINAL (the table is small).

An id names one active property at a time: creating an active id again is refused
(:class:`PropertyExistsError`); creating a revoked id again gives it a new key, which is how a
leaked key is rotated while the property's events keep their id. Writers: ``qoe properties``
(here, or through ``/v1/properties``, :mod:`warehouse.properties_api`) and ``qoe up``, which
ensures the default property (:func:`ensure_property`). Reader: the gateway's key snapshot,
through ``GET /v1/properties``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from foundation.properties import Property, new_property_key, valid_origin, valid_property_id

log = logging.getLogger(__name__)

TABLE = "properties"
MAX_NAME_LENGTH = 200
MAX_ORIGINS = 100
ID_RULE = "a property id is 1 to 63 of a-z 0-9 -, starting with a letter or digit"
ORIGIN_RULE = "an origin is a scheme and host without a path: https://www.example.com, https://*.example.com"
_COLUMNS = (
    "property_id",
    "name",
    "key",
    "origins",
    "created_at",
    "created_by",
    "revoked_at",
    "revoked_by",
    "version",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} FINAL"


class PropertyError(ValueError):
    """An id, name or origin the store refuses; the message says what is allowed."""


class PropertyExistsError(ValueError):
    """An active property already holds this id."""


@dataclass(frozen=True)
class _Stored:
    prop: Property
    version: int


def check_property_id(property_id: str) -> str:
    if not valid_property_id(property_id):
        raise PropertyError(f"{property_id!r}: {ID_RULE}")
    return property_id


def check_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """The origins, each checked, without repeats, in the order given."""
    checked = tuple(dict.fromkeys(origins))
    for origin in checked:
        if not valid_origin(origin):
            raise PropertyError(f"{origin!r}: {ORIGIN_RULE}")
    if len(checked) > MAX_ORIGINS:
        raise PropertyError(f"a property has at most {MAX_ORIGINS} origins")
    return checked


def _check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise PropertyError(f"a property name has 1 to {MAX_NAME_LENGTH} characters, not only spaces")
    return name


def create_property(client: Client, property_id: str, name: str, origins: Iterable[str], created_by: str) -> Property:
    """Store a new property with a fresh key; PropertyError for a bad id, name or origin,
    PropertyExistsError when an active property holds the id (a revoked one is given a new key)."""
    created_at = _now()
    prop = Property(
        property_id=check_property_id(property_id),
        name=_check_name(name),
        key=new_property_key(),
        origins=check_origins(origins),
        created_at=created_at,
        created_by=created_by,
    )
    current = _one(client, property_id)
    if current is not None and current.prop.active:
        raise PropertyExistsError(f"property {property_id!r} exists: revoke it first to give it a new key")
    _insert(client, prop, _next_version(created_at, current))
    stored = _one(client, property_id)
    if stored is None or stored.prop.key != prop.key:  # another writer created it at the same moment
        raise PropertyExistsError(f"property {property_id!r} exists: created by another caller just now")
    log.info(
        "properties: property %s (%r, origins %s) created by %r", property_id, name, list(prop.origins), created_by
    )
    return stored.prop


def list_properties(client: Client) -> list[Property]:
    """Every property, revoked ones included, newest first."""
    return [stored.prop for stored in _stored(client, f"{_SELECT} ORDER BY created_at DESC, property_id")]


def revoke_property(client: Client, property_id: str, revoked_by: str) -> Property | None:
    """Revoke a property's key; the property afterwards, or None when there is no such property.
    Revoking a revoked property changes nothing (the first revocation is kept)."""
    current = _one(client, property_id)
    if current is None or not current.prop.active:
        return current.prop if current is not None else None
    revoked_at = _now()
    prop = replace(current.prop, revoked_at=revoked_at, revoked_by=revoked_by)
    _insert(client, prop, _next_version(revoked_at, current))
    log.info("properties: property %s (%r) revoked by %r", property_id, prop.name, revoked_by)
    return prop


def ensure_property(client: Client, property_id: str, name: str, created_by: str) -> Property:
    """The active property of this id, created (any origin) when there is none: ``qoe up``'s default."""
    current = _one(client, check_property_id(property_id))
    if current is not None and current.prop.active:
        return current.prop
    try:
        return create_property(client, property_id, name, (), created_by)
    except PropertyExistsError:  # created by another caller meanwhile: theirs stands
        created = _one(client, property_id)
        if created is None or not created.prop.active:
            raise
        return created.prop


def _one(client: Client, property_id: str) -> _Stored | None:
    found = _stored(client, f"{_SELECT} WHERE property_id = {{property_id:String}}", {"property_id": property_id})
    return found[0] if found else None


def _stored(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> list[_Stored]:
    result = client.query(sql, parameters=parameters or {})
    return [_row_property(dict(zip(result.column_names, row, strict=True))) for row in result.result_rows]


def _row_property(row: dict[str, Any]) -> _Stored:
    prop = Property(
        property_id=row["property_id"],
        name=row["name"],
        key=row["key"],
        origins=tuple(row["origins"]),
        created_at=_utc(row["created_at"]),
        created_by=row["created_by"],
        revoked_at=_utc(row["revoked_at"]) if row["revoked_at"] is not None else None,
        revoked_by=row["revoked_by"],
    )
    return _Stored(prop, int(row["version"]))


def _insert(client: Client, prop: Property, version: int) -> None:
    row = [
        prop.property_id,
        prop.name,
        prop.key,
        list(prop.origins),
        prop.created_at,
        prop.created_by,
        prop.revoked_at,
        prop.revoked_by,
        version,
    ]
    client.insert(TABLE, [row], column_names=list(_COLUMNS))


def _next_version(at: datetime, current: _Stored | None) -> int:
    """ms of the change, and newer than the version in force even within the same millisecond."""
    version = int(at.timestamp() * 1000)
    return version if current is None else max(version, current.version + 1)


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # the column keeps milliseconds


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
