"""Access tokens of the APIs (issue 12). Owns ``access_tokens``.

One row per token and version (ReplacingMergeTree): creating a token writes its first version,
revoking it writes a newer one with ``revoked_at`` set, so a revocation is an insert, visible to
every replica's next snapshot (:func:`load_tokens`) without a mutation. Reads take the newest
version with FINAL (the table is small). The secret is stored only as its argon2id hash
(:mod:`foundation.access`); :func:`create_token` returns it once, to the caller that asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from foundation.access import Scope, StoredToken, Token, TokenInfo, hash_secret, new_token, secret_matches
from warehouse.properties import list_properties

log = logging.getLogger(__name__)

TABLE = "access_tokens"
_COLUMNS = (
    "token_id",
    "name",
    "scopes",
    "secret_hash",
    "created_at",
    "created_by",
    "revoked_at",
    "revoked_by",
    "version",
    "property",
)
_KNOWN_SCOPES = frozenset(scope.value for scope in Scope)  # a scope a newer version wrote is ignored, not fatal
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} FINAL"


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: its info, and the token itself, which is never shown again."""

    info: TokenInfo
    token: Token

    def to_json(self) -> dict[str, Any]:
        return {**self.info.to_json(), "token": str(self.token)}


def create_token(
    client: Client,
    name: str,
    scopes: frozenset[Scope],
    created_by: str,
    *,
    token: Token | None = None,
    property_id: str = "",
) -> IssuedToken:
    """Store a new token (a fresh one unless ``token`` is given) and return it, secret included, once.
    ``property_id``: the one property it reads (tenancy); empty: every property."""
    token = token or new_token()
    info = TokenInfo(token.token_id, name, scopes, _now(), created_by, property_id=property_id)
    _insert(client, StoredToken(info, hash_secret(token.secret)), _version(info.created_at))
    log.info("access: token %s (%r, scopes %s) created by %r", info.token_id, name, sorted(scopes), created_by)
    return IssuedToken(info, token)


def bindable_property(client: Client, property_id: str | None, scopes: frozenset[Scope]) -> str:
    """The property a new token may be bound to ('' for none); ValueError saying why not."""
    if not property_id:
        return ""
    if Scope.ADMIN in scopes:
        raise ValueError("a token bound to a property has the read scope only: administration is not per property")
    if property_id not in {prop.property_id for prop in list_properties(client) if prop.active}:
        raise ValueError(f"no active property {property_id!r} (qoe properties list)")
    return property_id


def list_tokens(client: Client) -> list[TokenInfo]:
    """Every token, revoked ones included, newest first; never their hashes."""
    return [stored.info for stored in _stored(client, f"{_SELECT} ORDER BY created_at DESC, token_id")]


def revoke_token(client: Client, token_id: str, revoked_by: str) -> TokenInfo | None:
    """Revoke a token; its info afterwards, or None when there is no such token. Revoking a revoked
    token changes nothing (the first revocation is kept)."""
    current = _one(client, token_id)
    if current is None or not current.info.active:
        return current.info if current is not None else None
    revoked_at = _now()
    info = replace(current.info, revoked_at=revoked_at, revoked_by=revoked_by)
    # +1: newer than the created version even within the same millisecond.
    _insert(client, StoredToken(info, current.secret_hash), _version(revoked_at) + 1)
    log.info("access: token %s (%r) revoked by %r", token_id, info.name, revoked_by)
    return info


def load_tokens(client: Client) -> list[StoredToken]:
    """The active tokens with their hashes: the snapshot a :class:`foundation.access.TokenVerifier` checks against."""
    return _stored(client, f"{_SELECT} WHERE revoked_at IS NULL")


def ensure_token(client: Client, token: Token, name: str, scopes: frozenset[Scope], created_by: str) -> str:
    """Register ``token`` unless it is there already (the bootstrap admin token, at every start);
    what happened, in a few words. A revoked one is not brought back; an id held by another
    secret is refused with ValueError."""
    current = _one(client, token.token_id)
    if current is None:
        create_token(client, name, scopes, created_by, token=token)
        return "registered"
    if not current.info.active:
        return f"revoked by {current.info.revoked_by!r}: not registered again"
    if not secret_matches(current.secret_hash, token.secret) or current.info.scopes != scopes:
        raise ValueError(f"token id {token.token_id} is already held by another token: generate a new one")
    return "already registered"


def _one(client: Client, token_id: str) -> StoredToken | None:
    found = _stored(client, f"{_SELECT} WHERE token_id = {{token_id:String}}", {"token_id": token_id})
    return found[0] if found else None


def _stored(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> list[StoredToken]:
    result = client.query(sql, parameters=parameters or {})
    return [_row_token(dict(zip(result.column_names, row, strict=True))) for row in result.result_rows]


def _row_token(row: dict[str, Any]) -> StoredToken:
    info = TokenInfo(
        token_id=row["token_id"],
        name=row["name"],
        scopes=frozenset(Scope(scope) for scope in row["scopes"] if scope in _KNOWN_SCOPES),
        created_at=_utc(row["created_at"]),
        created_by=row["created_by"],
        revoked_at=_utc(row["revoked_at"]) if row["revoked_at"] is not None else None,
        revoked_by=row["revoked_by"],
        property_id=row["property"],
    )
    return StoredToken(info, row["secret_hash"])


def _insert(client: Client, stored: StoredToken, version: int) -> None:
    info = stored.info
    row = [
        info.token_id,
        info.name,
        sorted(info.scopes),
        stored.secret_hash,
        info.created_at,
        info.created_by,
        info.revoked_at,
        info.revoked_by,
        version,
        info.property_id,
    ]
    client.insert(TABLE, [row], column_names=list(_COLUMNS))


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # the column keeps milliseconds


def _version(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
