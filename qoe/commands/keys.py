"""``qoe keys``: access tokens of the APIs (registered by qoe.cli).

* ``qoe keys create --name N --scope read [--scope admin]``: a new token, printed once.
* ``qoe keys list``: every token (never a secret); ``qoe keys revoke TOKEN_ID``: revoke one.
* ``qoe keys generate``: a fresh token that is stored nowhere, for ``QOE_ADMIN_TOKEN``.

Like ``qoe erase``: while the platform runs on the embedded warehouse, its worker holds it, so the
command asks the running API (``/v1/keys``, admin routes) with the operator's admin token
(``QOE_ADMIN_TOKEN``, or the one ``qoe up`` wrote under the data directory); otherwise it works on
the warehouse here. Exit 0: done; 1: the platform or the warehouse refused; 2: bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from foundation.access import Scope, TokenInfo, new_token, parse_scopes, valid_token_id
from foundation.settings import Settings
from qoe.commands.admin_client import RefusedError, ask, fail, operator, running_host, warehouse_here

KEYS_ROUTE = "/v1/keys"
PURPOSE = "manage access tokens"


def register(subparsers: Any) -> None:
    """Add ``qoe keys`` to ``qoe``."""
    keys = subparsers.add_parser("keys", help="access tokens of the APIs: create, list, revoke")
    commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = commands.add_parser("create", help="create a token; its secret is printed once")
    create.add_argument("--name", required=True, help="what the token is for, e.g. grafana")
    scopes = [scope.value for scope in Scope]
    create.add_argument(
        "--scope", action="append", required=True, choices=scopes, help="read or admin (admin implies read); repeat"
    )
    create.add_argument(
        "--property", default=None, help="bind a read token to this property: it reads that property's data only"
    )
    create.add_argument("--json", action="store_true", help="print the token and its info as one JSON object")
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="every token, revoked ones included (no secrets)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_list)

    revoke = commands.add_parser("revoke", help="revoke a token: it fails within seconds everywhere")
    revoke.add_argument("token_id", type=_token_id, help="the token's id (16 hex digits)")
    revoke.set_defaults(handler=_revoke)

    commands.add_parser("generate", help="print a fresh token stored nowhere, for QOE_ADMIN_TOKEN").set_defaults(
        handler=_generate
    )


def _token_id(text: str) -> str:
    if not valid_token_id(text):
        raise argparse.ArgumentTypeError("a token id is 16 hex digits, as `qoe keys list` shows it")
    return text


def _create(args: argparse.Namespace, settings: Settings) -> int:
    body = {"name": args.name, "scopes": sorted(set(args.scope)), "property": args.property}
    try:
        host = running_host(settings)
        issued = ask(host, settings, "POST", KEYS_ROUTE, body) if host else _create_here(settings, body)
    except RefusedError as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(issued) + "\n")
    else:
        sys.stderr.write(f"token {issued['token_id']} ({issued['name']}, scopes {', '.join(issued['scopes'])})\n")
        sys.stderr.write("the secret is shown only now; keep it somewhere safe:\n")
        sys.stdout.write(f"{issued['token']}\n")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        host = running_host(settings)
        listing = ask(host, settings, "GET", KEYS_ROUTE) if host else _list_here(settings)
    except RefusedError as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(listing) + "\n")
        return 0
    for token in listing["tokens"]:
        state = "active" if token["active"] else f"revoked {token['revoked_at']} by {token['revoked_by']}"
        line = f"{token['token_id']}  {','.join(token['scopes']):<10}  {token['name']!r}  created {token['created_at']}"
        bound = f"  property {token['property']}" if token.get("property") else ""
        sys.stdout.write(f"{line} by {token['created_by']}  {state}{bound}\n")
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        host = running_host(settings)
        path = f"{KEYS_ROUTE}/{args.token_id}"
        revoked = ask(host, settings, "DELETE", path) if host else _revoke_here(settings, args.token_id)
    except RefusedError as exc:
        return fail(str(exc))
    sys.stderr.write(f"token {revoked['token_id']} ({revoked['name']!r}) revoked at {revoked['revoked_at']}\n")
    return 0


def _generate(_: argparse.Namespace, __: Settings) -> int:
    sys.stdout.write(f"{new_token()}\n")
    return 0


# --- on the warehouse, here -------------------------------------------------------------------------


def _create_here(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    from warehouse.access import bindable_property, create_token

    scopes = parse_scopes(body["scopes"])
    with warehouse_here(settings, PURPOSE) as client:
        try:
            property_id = bindable_property(client, body["property"], scopes)
        except ValueError as exc:
            raise RefusedError(str(exc)) from exc
        return create_token(client, body["name"], scopes, operator(), property_id=property_id).to_json()


def _list_here(settings: Settings) -> dict[str, Any]:
    from warehouse.access import list_tokens

    with warehouse_here(settings, PURPOSE) as client:
        return {"tokens": [info.to_json() for info in list_tokens(client)]}


def _revoke_here(settings: Settings, token_id: str) -> dict[str, Any]:
    from warehouse.access import revoke_token

    with warehouse_here(settings, PURPOSE) as client:
        info: TokenInfo | None = revoke_token(client, token_id, operator())
    if info is None:
        raise RefusedError(f"no token {token_id}")
    return info.to_json()
