"""Who may sign in to the dashboards. Owns ``dashboard_users``.

A user has a name, a role (``read``: the dashboards; ``admin``: also the admin page that manages
the API access tokens) and a password, stored as its argon2id hash by argon2-cffi (its defaults
are RFC 9106's low-memory profile; the hash carries its own salt and costs), never as text.

Every change is a new row; the newest row of a name is in force (see the migration), so a change
is an insert, and a change made within the same millisecond as the one before it is dated one
millisecond later to stay the newest.

Tenancy (issue 12): a ``read`` user may be bound to one property (:attr:`DashboardUser.property_id`),
whose data alone the dashboards show it (``dashboards.auth.viewer_property``); empty: every
property. Only an active property (:func:`warehouse.properties.list_properties`) may be given, and
only to a ``read`` user: administration is not per property, so an ``admin`` is never bound. A
change that names no property keeps the user's (a new password, a new role, disabling, a rehash);
naming ``""`` unbinds it. A kept property is not checked again: a user whose property was revoked
since keeps reading that property's data, as a token bound to it does; it is never widened to
every property behind the operator's back. Promoting a bound user to ``admin`` is refused unless
the change unbinds it too.

Sessions name a user together with :attr:`DashboardUser.stamp`, a digest of the password hash in
force: a new password ends every session signed in with the old one (the dashboards compare the
stamp on each request), and a disabled user's sessions end too.

Writers: ``qoe users`` (directly, or through the admin routes of :mod:`warehouse.users_api` when
the running platform holds the embedded warehouse) and the dashboards at start, which ensure the
bootstrap ``admin`` user (:func:`ensure_user`). Readers: the dashboards' sign-in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from clickhouse_connect.driver.client import Client

from warehouse.properties import list_properties
from warehouse.results import iso_ms

TABLE = "dashboard_users"
Role = Literal["read", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
NAME_RULE = "a user name is 1 to 64 of a-z 0-9 _ . @ -, starting with a letter or digit"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds what one request can make it hash
_COLUMNS = ("name", "password_hash", "role", "disabled", "updated_at", "updated_by", "property")
_ONE_MS = timedelta(milliseconds=1)
_hasher = PasswordHasher()

# The newest row of each name. The aliases differ from the column names: an alias equal to a
# column would stand for the aggregate inside the other aggregates.
_CURRENT = """
SELECT name,
       argMax(password_hash, updated_at) AS current_hash,
       argMax(role, updated_at) AS current_role,
       argMax(disabled, updated_at) AS current_disabled,
       max(updated_at) AS last_updated_at,
       argMax(updated_by, updated_at) AS last_updated_by,
       argMax(property, updated_at) AS current_property
FROM dashboard_users
"""
_ALL_SQL = _CURRENT + "GROUP BY name ORDER BY name"
_ONE_SQL = _CURRENT + "WHERE name = {name:String} GROUP BY name"


class UserError(ValueError):
    """A name, role, password or property the store refuses; the message says what is allowed."""


@dataclass(frozen=True)
class DashboardUser:
    """A user as the dashboards see it: no password hash, only its :attr:`stamp`."""

    name: str
    role: Role
    disabled: bool
    updated_at: datetime
    updated_by: str
    stamp: str
    property_id: str = ""  # the one property the user reads; empty: every property (tenancy)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "updated_at": iso_ms(int(self.updated_at.timestamp() * 1000)),
            "updated_by": self.updated_by,
            "property": self.property_id or None,
        }


@dataclass(frozen=True)
class _Row:
    user: DashboardUser
    password_hash: str


def generate_password() -> str:
    """A new random password: 24 URL-safe characters, 144 bits (``qoe users create``, ``qoe up``)."""
    return secrets.token_urlsafe(18)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UserError(NAME_RULE)
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"a role is one of {', '.join(ROLES)}")
    return role  # narrowed to Role by the test above


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def save_user(
    client: Client, name: str, password: str, role: str, updated_by: str, *, property_id: str | None = None
) -> DashboardUser:
    """Creates the user, or gives an existing one this password and role and enables it.

    ``property_id``: the one property the user reads; ``""``: every property; None (the default):
    the user's property in force, kept (a new user: every property). A property given must be
    active, and a bound user's role ``read`` (:class:`UserError` saying why not)."""
    check_name(name)
    checked_role = check_role(role)
    check_password(password)
    previous = _row(client, name)
    bound = _bindable_property(client, property_id, previous, checked_role)
    return _write(client, previous, name, _hasher.hash(password), checked_role, False, updated_by, bound)


def disable_user(client: Client, name: str, updated_by: str) -> DashboardUser | None:
    """Disables the user (its sessions end, it cannot sign in); None when there is no such user."""
    row = _row(client, name)
    if row is None:
        return None
    return _write(client, row, name, row.password_hash, row.user.role, True, updated_by, row.user.property_id)


def list_users(client: Client) -> list[DashboardUser]:
    """Every user, disabled ones included, by name."""
    return [_from_record(record).user for record in client.query(_ALL_SQL).named_results()]


def find_user(client: Client, name: str) -> DashboardUser | None:
    row = _row(client, name)
    return None if row is None else row.user


def verify_user(client: Client, name: str, password: str) -> DashboardUser | None:
    """The enabled user with this name and password; None when the name is unknown, the user is
    disabled or the password is wrong (the caller cannot tell which, and neither can a timer)."""
    row = _row(client, name) if NAME.fullmatch(name) else None
    if row is None or row.user.disabled or len(password) > MAX_PASSWORD_LENGTH:
        # As long as a real check, so the timing tells no names.
        _verify(_decoy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not _verify(row.password_hash, password):
        return None
    if _hasher.check_needs_rehash(row.password_hash):  # hashed with weaker costs than today's
        return _write(client, row, name, _hasher.hash(password), row.user.role, False, "rehash", row.user.property_id)
    return row.user


def ensure_user(client: Client, name: str, password: str, role: str, updated_by: str, *, property_id: str = "") -> str:
    """The user exists, enabled, with this role, password and property (default: every property):
    ``created``, ``updated`` or ``unchanged`` (no new hash is made when they are those in force)."""
    row = _row(client, name)
    if (
        row is not None
        and not row.user.disabled
        and row.user.role == role
        and row.user.property_id == property_id
        and _verify(row.password_hash, password)
    ):
        return "unchanged"
    save_user(client, name, password, role, updated_by, property_id=property_id)
    return "created" if row is None else "updated"


def _bindable_property(client: Client, given: str | None, previous: _Row | None, role: Role) -> str:
    """The property the saved user reads ('' for every one): ``given``, or the previous one kept
    (not looked up again, see the module's docstring). UserError saying why not."""
    if given is None:
        kept = previous.user.property_id if previous is not None else ""
        if kept and role != "read":
            raise UserError(f"the user is bound to property {kept!r}: unbind it (property '') to make it {role}")
        return kept
    if not given:
        return ""
    if role != "read":
        raise UserError("a user bound to a property has the read role only: administration is not per property")
    if given not in {prop.property_id for prop in list_properties(client) if prop.active}:
        raise UserError(f"no active property {given!r} (qoe properties list)")
    return given


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(18))


def _row(client: Client, name: str) -> _Row | None:
    records = list(client.query(_ONE_SQL, parameters={"name": name}).named_results())
    return _from_record(records[0]) if records else None


def _from_record(record: dict[str, Any]) -> _Row:
    password_hash = str(record["current_hash"])
    user = DashboardUser(
        name=str(record["name"]),
        role=check_role(str(record["current_role"])),
        disabled=bool(record["current_disabled"]),
        updated_at=_utc(record["last_updated_at"]),
        updated_by=str(record["last_updated_by"]),
        stamp=_stamp(password_hash),
        property_id=str(record["current_property"]),
    )
    return _Row(user, password_hash)


def _write(
    client: Client,
    previous: _Row | None,
    name: str,
    password_hash: str,
    role: Role,
    disabled: bool,
    updated_by: str,
    property_id: str,
) -> DashboardUser:
    at = _now_ms()
    if previous is not None and at <= previous.user.updated_at:
        at = previous.user.updated_at + _ONE_MS  # argMax must see this row as the newest
    row = [name, password_hash, role, disabled, at, updated_by, property_id]
    client.insert(TABLE, [row], column_names=list(_COLUMNS))
    return DashboardUser(name, role, disabled, at, updated_by, _stamp(password_hash), property_id)


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _now_ms() -> datetime:
    # The column keeps milliseconds: compare and store what it will hold.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
