"""``qoe properties``: the properties and their public keys (registered by qoe.cli).

* ``qoe properties create --id ID --name NAME [--origin O ...]``: a new property; its key, which
  players send with their beacons, is printed on stdout.
* ``qoe properties list``: every property with its key; ``qoe properties revoke ID``: revoke one's
  key (creating the id again gives it a new key).

Like ``qoe keys``: while the platform runs on the embedded warehouse, its worker holds it, so the
command asks the running API (``/v1/properties``, admin routes) with the operator's admin token
(``QOE_ADMIN_TOKEN``, or the one ``qoe up`` wrote under the data directory); otherwise it works on
the warehouse here. Exit 0: done; 1: the platform or the warehouse refused; 2: bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from foundation.properties import Property, valid_origin, valid_property_id
from foundation.settings import Settings
from qoe.commands.admin_client import RefusedError, ask, fail, operator, running_host, warehouse_here

PROPERTIES_ROUTE = "/v1/properties"
PURPOSE = "manage properties"
LISTING = "properties"  # the key of GET /v1/properties's answer


def register(subparsers: Any) -> None:
    """Add ``qoe properties`` to ``qoe``."""
    properties = subparsers.add_parser("properties", help="properties and their public keys: create, list, revoke")
    commands = properties.add_subparsers(dest="properties_command", required=True, metavar="ACTION")

    create = commands.add_parser("create", help="create a property; its public key is printed")
    create.add_argument("--id", required=True, type=_property_id, help="a slug, e.g. web or ios-app")
    create.add_argument("--name", required=True, help="what the property is, e.g. 'web player'")
    create.add_argument(
        "--origin",
        action="append",
        default=[],
        type=_origin,
        help="a browser origin allowed to post, e.g. https://*.example.com; repeat (none: any)",
    )
    create.add_argument("--json", action="store_true", help="print the property as one JSON object")
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="every property with its key, revoked ones included")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_list)

    revoke = commands.add_parser("revoke", help="revoke a property's key: beacons with it are refused within seconds")
    revoke.add_argument("property_id", type=_property_id, help="the property's id, as `qoe properties list` shows it")
    revoke.set_defaults(handler=_revoke)


def _property_id(text: str) -> str:
    if not valid_property_id(text):
        raise argparse.ArgumentTypeError("a property id is 1 to 63 of a-z 0-9 -, starting with a letter or digit")
    return text


def _origin(text: str) -> str:
    if not valid_origin(text):
        raise argparse.ArgumentTypeError(
            "an origin is a scheme and host without a path: https://www.example.com, https://*.example.com"
        )
    return text


def _create(args: argparse.Namespace, settings: Settings) -> int:
    body = {"property_id": args.id, "name": args.name, "origins": args.origin}
    try:
        host = running_host(settings)
        created = (
            ask(host, settings, "POST", PROPERTIES_ROUTE, body)
            if host
            else _create_here(settings, args.id, args.name, args.origin)
        )
    except RefusedError as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(created) + "\n")
    else:
        origins = ", ".join(created["origins"]) or "any origin"
        sys.stderr.write(f"property {created['property_id']} ({created['name']!r}, {origins}); its key:\n")
        sys.stdout.write(f"{created['key']}\n")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        host = running_host(settings)
        listing = ask(host, settings, "GET", PROPERTIES_ROUTE) if host else _list_here(settings)
    except RefusedError as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(listing) + "\n")
        return 0
    for prop in listing[LISTING]:
        state = "active" if prop["active"] else f"revoked {prop['revoked_at']} by {prop['revoked_by']}"
        origins = ",".join(prop["origins"]) or "*"
        line = f"{prop['property_id']}  {prop['key']}  {prop['name']!r}  origins {origins}"
        sys.stdout.write(f"{line}  created {prop['created_at']} by {prop['created_by']}  {state}\n")
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        host = running_host(settings)
        path = f"{PROPERTIES_ROUTE}/{args.property_id}"
        revoked = ask(host, settings, "DELETE", path) if host else _revoke_here(settings, args.property_id)
    except RefusedError as exc:
        return fail(str(exc))
    sys.stderr.write(f"property {revoked['property_id']} ({revoked['name']!r}) revoked at {revoked['revoked_at']}\n")
    return 0


# --- on the warehouse, here -------------------------------------------------------------------------


def _create_here(settings: Settings, property_id: str, name: str, origins: list[str]) -> dict[str, Any]:
    from warehouse.properties import PropertyError, PropertyExistsError, create_property

    with warehouse_here(settings, PURPOSE) as client:
        try:
            return create_property(client, property_id, name, origins, operator()).to_json()
        except (PropertyError, PropertyExistsError) as exc:
            raise RefusedError(str(exc)) from exc


def _list_here(settings: Settings) -> dict[str, Any]:
    from warehouse.properties import list_properties

    with warehouse_here(settings, PURPOSE) as client:
        return {LISTING: [prop.to_json() for prop in list_properties(client)]}


def _revoke_here(settings: Settings, property_id: str) -> dict[str, Any]:
    from warehouse.properties import revoke_property

    with warehouse_here(settings, PURPOSE) as client:
        revoked: Property | None = revoke_property(client, property_id, operator())
    if revoked is None:
        raise RefusedError(f"no property {property_id!r}")
    return revoked.to_json()
