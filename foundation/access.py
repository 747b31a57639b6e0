"""Access tokens of the APIs: their wire format, scopes, secret hashing and verification.

A token is ``qoe_<id>_<secret>``, sent as ``Authorization: Bearer qoe_<id>_<secret>``. The id
names the token in listings and logs; the secret is shown once, when the token is created, and
stored only as its argon2id hash (``warehouse.access`` owns the table).

Scopes: ``read`` reads every API (stats, views, events, recommendations, catalogue, steering,
autoscaling, metrics); ``admin`` also trains, erases and manages tokens, so admin implies read.
The warehouse-side API decides which a route needs from its tags: tag ``admin`` needs admin,
every other route read.

argon2 is slow on purpose (tens of milliseconds per check), so :class:`TokenVerifier` checks a
request against an in-memory snapshot of the tokens, reloaded every ``refresh_every_s``, and
remembers secrets it has verified against the stored hash. A revoked token leaves the snapshot
at the next reload, and with it every remembered secret of it, so it fails within about a second
on every replica. This module is pure: the loader of the snapshot is a callable the composition
root gives, so the gateway (which must not read the warehouse) can share the parsing and scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from foundation.errors import UsageError
from foundation.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "qoe"
ADMIN_TAG = "admin"  # routes with this OpenAPI tag need the admin scope
REALM = "qoe"
_TOKEN = re.compile(r"^qoe_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{32,128})$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106, low-memory profile)
REFUSED_MEMORY = 10_000  # wrong secrets remembered, so a guesser costs a dictionary lookup, not an argon2 run
UNKNOWN_RELOAD_S = 0.2  # an unknown token id reloads the snapshot at most this often


class Scope(StrEnum):
    READ = "read"
    ADMIN = "admin"


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """The scopes named; ValueError naming the unknown one. At least one is required."""
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name.strip().lower()))
        except ValueError:
            allowed = ", ".join(scope.value for scope in Scope)
            raise ValueError(f"unknown scope {name!r}: allowed are {allowed}") from None
    if not scopes:
        raise ValueError("a token needs at least one scope: read or admin")
    return frozenset(scopes)


def grants(scopes: Iterable[Scope], needed: Scope) -> bool:
    """Whether a token with ``scopes`` may do what ``needed`` allows: admin implies read."""
    held = set(scopes)
    return needed in held or Scope.ADMIN in held


# --- the token on the wire ------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A token as its holder has it: id and secret. Its repr hides the secret."""

    token_id: str
    secret: str = field(repr=False)

    def __str__(self) -> str:
        return f"{PREFIX}_{self.token_id}_{self.secret}"

    @property
    def bearer(self) -> dict[str, str]:
        """The request header that presents it."""
        return {"Authorization": f"Bearer {self}"}


def new_token() -> Token:
    """A fresh token: a 64-bit id, and a 256-bit secret that only its holder will ever see."""
    return Token(secrets.token_hex(8), secrets.token_urlsafe(32))


def parse_token(text: str) -> Token:
    """``qoe_<id>_<secret>`` as a Token; ValueError saying what is wrong with it."""
    match = _TOKEN.match(text.strip())
    if match is None:
        raise ValueError("a token looks like qoe_<16 hex digits>_<secret>")
    return Token(match["id"], match["secret"])


def valid_token_id(text: str) -> bool:
    return _TOKEN_ID.match(text) is not None


def hash_secret(secret: str) -> str:
    """The argon2id hash (a PHC string with its own salt and parameters) stored in place of the secret."""
    return _HASHER.hash(secret)


def secret_matches(secret_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


# --- what is stored, and who a verified request is ------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """Everything about a token but its secret and hash: what listings show."""

    token_id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str = ""
    property_id: str = ""  # the one property the token reads; empty: every property

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "property": self.property_id or None,
            "created_at": self.created_at.isoformat(timespec="milliseconds"),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat(timespec="milliseconds") if self.revoked_at else None,
            "revoked_by": self.revoked_by or None,
            "active": self.active,
        }


@dataclass(frozen=True)
class StoredToken:
    """A token as the verifier needs it: its info and the hash of its secret."""

    info: TokenInfo
    secret_hash: str = field(repr=False)


@dataclass(frozen=True)
class Principal:
    """Who made a verified request."""

    token_id: str
    name: str
    scopes: frozenset[Scope]
    property_id: str = ""  # the one property this caller may read; empty: every property (tenancy)

    @classmethod
    def of(cls, info: TokenInfo) -> Principal:
        return cls(info.token_id, info.name, info.scopes, info.property_id)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Principal:
        return cls(str(body["token_id"]), str(body["name"]), parse_scopes(body["scopes"]), body.get("property") or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "property": self.property_id or None,
        }


class AccessDeniedError(Exception):
    """401 (no valid token) or 403 (a valid token without the scope), with the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @property
    def headers(self) -> dict[str, str]:
        if self.status != 401:
            return {}
        # RFC 6750 §3: the challenge tells a client which scheme to use, and why it failed.
        description = self.reason.replace('"', "'")
        return {"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'}


def unauthorized(reason: str) -> AccessDeniedError:
    return AccessDeniedError(401, reason)


def forbidden(principal: Principal, needed: Scope) -> AccessDeniedError:
    held = ", ".join(sorted(principal.scopes))
    return AccessDeniedError(403, f"token {principal.token_id} has scopes [{held}]; this route needs {needed.value}")


class TokenStoreUnavailableError(Exception):
    """The tokens could not be reloaded for longer than a revocation may take to apply: 503."""


def presented_token(authorization: str | None) -> Token:
    """The token of an ``Authorization`` header; AccessDeniedError(401) saying what is missing."""
    if not authorization:
        raise unauthorized("this route needs an access token: send Authorization: Bearer qoe_<id>_<secret>")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise unauthorized("send the access token as Authorization: Bearer qoe_<id>_<secret>")
    try:
        return parse_token(credentials)
    except ValueError as exc:
        raise unauthorized(str(exc)) from None


def require(principal: Principal, needed: Scope) -> Principal:
    if not grants(principal.scopes, needed):
        raise forbidden(principal, needed)
    return principal


# --- verification -----------------------------------------------------------------------------------

Loader = Callable[[], Iterable[StoredToken]]


class TokenVerifier:
    """Checks presented tokens against a snapshot of the stored ones, cheaply after the first time.

    The snapshot is reloaded when it is older than ``refresh_every_s`` (by :meth:`refresh` on a
    background thread, or by the request that finds it old). While the loader fails, the last
    snapshot serves until it is ``stale_after_s`` old; past that every check answers
    TokenStoreUnavailableError, since a revocation could no longer be seen in time.
    """

    def __init__(
        self,
        load: Loader,
        *,
        refresh_every_s: float = 1.0,
        stale_after_s: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        verify: Callable[[str, str], bool] = secret_matches,
    ) -> None:
        self._load = load
        self._refresh_every_s = refresh_every_s
        self._stale_after_s = stale_after_s
        self._clock = clock
        self._verify = verify
        self._tokens: dict[str, StoredToken] = {}
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf
        self._reload_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        # (token id, stored hash) → SHA-256 of the secret that verified against it.
        self._verified: dict[tuple[str, str], bytes] = {}
        self._refused: OrderedDict[tuple[str, str, bytes], None] = OrderedDict()

    def authorize(self, authorization: str | None, needed: Scope) -> Principal:
        """The principal of a request's ``Authorization`` header, if its token holds ``needed``."""
        return require(self.authenticate(authorization), needed)

    def authenticate(self, authorization: str | None) -> Principal:
        token = presented_token(authorization)
        stored = self._snapshot().get(token.token_id) or self._fresh_lookup(token.token_id)
        if stored is None or not stored.info.active:
            # One answer for unknown and revoked ids: the caller learns nothing about which ids exist.
            raise unauthorized(f"token {token.token_id} is unknown or revoked")
        if not self._secret_verified(stored, token.secret):
            raise unauthorized(f"the secret of token {token.token_id} is wrong")
        return Principal.of(stored.info)

    def _fresh_lookup(self, token_id: str) -> StoredToken | None:
        """An id the snapshot lacks may have been created since it was taken: a token works as soon
        as ``qoe keys create`` returns. Reloaded at most every ``UNKNOWN_RELOAD_S``, so a flood of
        made-up ids costs a few small reads per second."""
        if self._clock() - self._attempted_at < UNKNOWN_RELOAD_S:
            return None
        with self._reload_lock:
            if self._clock() - self._attempted_at >= UNKNOWN_RELOAD_S:
                self._reload()
        return self._tokens.get(token_id)

    def refresh(self) -> None:
        """Reload the snapshot now (a background thread calls this every ``refresh_every_s``)."""
        with self._reload_lock:
            self._reload()

    def _snapshot(self) -> dict[str, StoredToken]:
        age = self._clock() - self._loaded_at
        # Requests keep the current snapshot while another one reloads it, unless it is too old to trust.
        due = self._clock() - self._attempted_at >= self._refresh_every_s
        if due and self._reload_lock.acquire(blocking=age >= self._stale_after_s):
            try:
                if self._clock() - self._attempted_at >= self._refresh_every_s:
                    self._reload()
            finally:
                self._reload_lock.release()
        if self._clock() - self._loaded_at >= self._stale_after_s:
            raise TokenStoreUnavailableError("the access tokens cannot be read; retry later")
        return self._tokens

    def _reload(self) -> None:
        self._attempted_at = self._clock()
        try:
            tokens = {stored.info.token_id: stored for stored in self._load()}
        except Exception as exc:  # the store's failure (a warehouse outage) must not take the API down at once
            log.warning("access tokens not reloaded (%s: %s); using the last snapshot", type(exc).__name__, exc)
            return
        self._tokens = tokens
        self._loaded_at = self._attempted_at
        live = {(token_id, stored.secret_hash) for token_id, stored in tokens.items() if stored.info.active}
        with self._cache_lock:
            self._verified = {key: digest for key, digest in self._verified.items() if key in live}

    def _secret_verified(self, stored: StoredToken, secret: str) -> bool:
        key = (stored.info.token_id, stored.secret_hash)
        digest = hashlib.sha256(secret.encode()).digest()
        with self._cache_lock:
            known = self._verified.get(key)
            if known is not None and hmac.compare_digest(known, digest):
                return True
            if (*key, digest) in self._refused:
                return False
        matches = self._verify(stored.secret_hash, secret)  # the slow part: outside the lock
        with self._cache_lock:
            if matches:
                self._verified[key] = digest
            else:
                self._refused[(*key, digest)] = None
                while len(self._refused) > REFUSED_MEMORY:
                    self._refused.popitem(last=False)
        return matches


class Refresher:
    """Reloads a verifier's snapshot every ``interval_s`` on a daemon thread, so requests rarely wait."""

    def __init__(self, verifier: TokenVerifier, interval_s: float = 1.0) -> None:
        self._verifier = verifier
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="access-token-refresh", daemon=True)

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._verifier.refresh()


# --- the operator's admin token ---------------------------------------------------------------------


def admin_token_path(settings: Settings) -> Path:
    """Where ``qoe up`` keeps the admin token it generated for this data directory (mode 0600)."""
    return settings.data_dir / "run" / "admin-token"


def admin_token(settings: Settings) -> Token | None:
    """The operator's admin token: QOE_ADMIN_TOKEN, else the one ``qoe up`` wrote; None when neither.
    ValueError, naming where it came from, when it is malformed."""
    if settings.admin_token is not None:
        where, text = "QOE_ADMIN_TOKEN", settings.admin_token.get_secret_value()
    else:
        where = str(admin_token_path(settings))
        try:
            text = admin_token_path(settings).read_text()
        except FileNotFoundError:
            return None
    try:
        return parse_token(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def admin_headers(settings: Settings) -> dict[str, str]:
    """The headers presenting the operator's admin token to the platform's API; none when there is none
    (the API then answers 401, saying a token is needed). A malformed one is the command's UsageError."""
    try:
        token = admin_token(settings)
    except ValueError as exc:
        raise UsageError(f"the admin token is malformed: {exc}") from None
    return token.bearer if token is not None else {}
