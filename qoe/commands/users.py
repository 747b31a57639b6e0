"""``qoe users``: who may sign in to the dashboards (registered by qoe.cli).

``qoe users create --name N --role read|admin`` creates the user, or gives an existing one a new
password and role, and prints a generated password once (``--password-stdin`` reads one instead,
for scripts and password managers); ``qoe users list``; ``qoe users disable N``. Passwords are
stored as argon2id hashes (:mod:`warehouse.users`).

Tenancy: ``qoe users create --name N --role read --property brand-a`` binds a read user to one
active property, whose data alone the dashboards show it; ``--property ''`` unbinds it (every
property); without ``--property`` a new user sees every property and an existing one keeps its
property (so a new password or role neither widens nor narrows what it sees). ``list`` shows each
user's property, ``*`` for every property.

While the platform runs on the embedded warehouse, its worker holds the warehouse, so the command
asks it through the admin routes of :mod:`warehouse.users_api` with the operator's admin token
(as ``qoe erase`` does); otherwise it writes here. Exit 0: done; 1: refused or failed (the
message says why); 2: bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Protocol

from foundation.settings import Settings
from qoe.commands.admin_client import NotFoundError, RefusedError, ask, fail, operator, running_host, warehouse_here

PURPOSE = "manage dashboards users"


class UserStore(Protocol):
    def save(self, name: str, password: str, role: str, by: str, property_id: str | None) -> dict[str, Any]: ...
    def users(self) -> list[dict[str, Any]]: ...
    def disable(self, name: str, by: str) -> dict[str, Any] | None: ...


def register(subparsers: Any) -> None:
    """Add ``qoe users`` to ``qoe``."""
    from warehouse.users import ROLES

    users = subparsers.add_parser("users", help="manage who may sign in to the dashboards")
    commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = commands.add_parser("create", help="create a user, or set an existing user's password and role")
    create.add_argument("--name", required=True, help="the user name (a-z 0-9 _ . @ -)")
    create.add_argument("--role", required=True, choices=ROLES, help="read: the dashboards; admin: also API tokens")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not generate it")
    create.add_argument(
        "--property",
        default=None,
        help="bind a read user to this property: the dashboards show it that property's data only; '' unbinds it; "
        "omitted: a new user sees every property, an existing one keeps its property",
    )
    create.set_defaults(handler=_create)
    commands.add_parser("list", help="list the users, their roles and properties").set_defaults(handler=_list)
    disable = commands.add_parser("disable", help="disable a user: no sign-in, open sessions end")
    disable.add_argument("name")
    disable.set_defaults(handler=_disable)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from warehouse.users import UserError, check_name, check_password, generate_password

    try:
        name = check_name(args.name)
        password = check_password(_read_password()) if args.password_stdin else generate_password()
    except UserError as exc:
        return fail(str(exc))
    try:
        user = open_store(settings).save(name, password, args.role, operator(), args.property)
    except (RefusedError, UserError) as exc:
        return fail(str(exc))
    if not args.password_stdin:
        sys.stdout.write(f"{password}\n")
        sys.stderr.write("this password is shown once: store it now\n")
    bound = f", property {user['property']}" if user.get("property") else ", every property"
    sys.stderr.write(f"dashboards user {user['name']!r} ({user['role']}{bound}) saved\n")
    return 0


def _list(_: argparse.Namespace, settings: Settings) -> int:
    try:
        users = open_store(settings).users()
    except RefusedError as exc:
        return fail(str(exc))
    lines = [f"{'name':<24} {'role':<6} {'state':<9} {'property':<24} {'updated_at':<30} updated_by"]
    for user in users:
        state = "disabled" if user["disabled"] else "enabled"
        bound = user.get("property") or "*"  # every property; * is no property id
        line = f"{user['name']:<24} {user['role']:<6} {state:<9} {bound:<24} {user['updated_at']:<30}"
        lines.append(f"{line} {user['updated_by']}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _disable(args: argparse.Namespace, settings: Settings) -> int:
    try:
        user = open_store(settings).disable(args.name, operator())
    except RefusedError as exc:
        return fail(str(exc))
    if user is None:
        return fail(f"no dashboards user {args.name!r}")
    sys.stderr.write(f"dashboards user {args.name!r} disabled\n")
    return 0


def admin_password_path(settings: Settings) -> Path:
    """Where ``qoe up`` keeps the dashboards' admin password it generated for this data directory."""
    return settings.data_dir / "run" / "dashboards-admin-password"


def ensure_admin_password(settings: Settings) -> tuple[str, str]:
    """The dashboards' admin password for ``qoe up`` and where it comes from:
    QOE_DASHBOARDS_ADMIN_PASSWORD, else this data directory's, generated on the first run (mode
    0600) so that the sign-in ``qoe up`` prints stays the same from one run to the next."""
    from warehouse.users import generate_password

    if settings.dashboards_admin_password is not None and settings.dashboards_admin_password.get_secret_value():
        return settings.dashboards_admin_password.get_secret_value(), "QOE_DASHBOARDS_ADMIN_PASSWORD"
    path = admin_password_path(settings)
    if path.is_file():
        return path.read_text().strip(), str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    password = generate_password()
    # Created with mode 0600 from the start: the password never sits in a file others can read.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(f"{password}\n")
    return password, str(path)


def _read_password() -> str:
    # One line, as `echo "$PASSWORD" | qoe users create ...` or a password manager sends it.
    return sys.stdin.readline().rstrip("\r\n")


def open_store(settings: Settings) -> UserStore:
    """The running platform's warehouse API when it holds the embedded warehouse, else the warehouse."""
    host = running_host(settings)
    return HostStore(host, settings) if host is not None else WarehouseStore(settings)


class HostStore:
    """The admin routes of :mod:`warehouse.users_api` on a running platform, asked with the
    operator's admin token (``QOE_ADMIN_TOKEN``, or the one ``qoe up`` wrote)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings

    def save(self, name: str, password: str, role: str, by: str, property_id: str | None) -> dict[str, Any]:
        body = {"password": password, "role": role, "updated_by": by, "property": property_id}
        return self._ask("PUT", f"/{name}", body, about="the user")

    def users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self._ask("GET", "", None, about="the listing")["users"]
        return users

    def disable(self, name: str, by: str) -> dict[str, Any] | None:
        try:
            return self._ask("POST", f"/{name}/disable", {"updated_by": by})
        except NotFoundError:
            return None

    def _ask(self, method: str, path: str, body: dict[str, Any] | None, about: str = "") -> dict[str, Any]:
        from warehouse.users_api import USERS_ROUTE

        return ask(self.url, self.settings, method, f"{USERS_ROUTE}{path}", body, about=about)


class WarehouseStore:
    """The warehouse, opened by this process for each change or listing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def save(self, name: str, password: str, role: str, by: str, property_id: str | None) -> dict[str, Any]:
        from warehouse.users import save_user

        with warehouse_here(self.settings, PURPOSE) as client:
            return save_user(client, name, password, role, by, property_id=property_id).to_json()

    def users(self) -> list[dict[str, Any]]:
        from warehouse.users import list_users

        with warehouse_here(self.settings, PURPOSE) as client:
            return [user.to_json() for user in list_users(client)]

    def disable(self, name: str, by: str) -> dict[str, Any] | None:
        from warehouse.users import disable_user

        with warehouse_here(self.settings, PURPOSE) as client:
            user = disable_user(client, name, by)
        return None if user is None else user.to_json()
