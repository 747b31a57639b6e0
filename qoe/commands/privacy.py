"""``qoe erase --viewer ID``: erase one viewer (registered by qoe.cli).

Removes the viewer's raw events, views and view deltas, and with them the recommender's history
of the viewer, logs the erasure (the SHA-256 of the id, never the id) and retrains a recommender
model learnt from the viewer's views (:mod:`recommender.privacy`). While the platform runs on the
embedded warehouse, its worker holds the warehouse, so the command asks it
(``POST /v1/privacy/erasure``, an admin route) with the operator's admin token (``QOE_ADMIN_TOKEN``
or the one ``qoe up`` wrote); otherwise it erases here. It returns once the
rows are gone. Exit 0: erased (also when nothing was stored); 1: the erasure failed; 2: bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from foundation.settings import Settings
from qoe.commands.admin_client import RefusedError, ask, fail, operator, running_host, warehouse_here

ERASURE_ROUTE = "/v1/privacy/erasure"
ERASURE_TIMEOUT_S = 600.0  # a mutation rewrites every part holding the viewer: minutes on a large warehouse
_VIEWER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # schemas.beacon.Id: what players may send


def register(subparsers: Any) -> None:
    """Add ``qoe erase`` to ``qoe``."""
    erase = subparsers.add_parser(
        "erase", help="erase one viewer: raw events, views and the recommender's history, logged"
    )
    erase.add_argument("--viewer", required=True, type=_viewer_id, help="the viewer id, as the player sends it")
    erase.add_argument(
        "--requested-by", default=None, help="who asked (a ticket, an operator), for the log; default: cli:<user>"
    )
    erase.add_argument("--json", action="store_true", help="print the erasure report as one JSON object")
    erase.set_defaults(handler=_erase)


def _viewer_id(text: str) -> str:
    if not _VIEWER_ID.match(text):
        raise argparse.ArgumentTypeError("a viewer id is 1 to 64 of A-Z a-z 0-9 _ . : -")
    return text


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    requested_by = args.requested_by or operator()
    try:
        host = running_host(settings, doing="erasing there")
        if host is not None:
            report = erase_on_host(host, settings, args.viewer, requested_by)
        else:
            report = _erase_here(settings, args.viewer, requested_by)
    except RefusedError as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _print_report(report)
    return 0


def erase_on_host(url: str, settings: Settings, viewer_id: str, requested_by: str) -> dict[str, Any]:
    """Ask the warehouse-side API at ``url`` to erase the viewer, with the operator's admin token; its report."""
    body = {"viewer_id": viewer_id, "requested_by": requested_by}
    return ask(url, settings, "POST", ERASURE_ROUTE, body, about="the erasure", timeout_s=ERASURE_TIMEOUT_S)


def _erase_here(settings: Settings, viewer_id: str, requested_by: str) -> dict[str, Any]:
    from recommender.privacy import retrain_after_erasure
    from warehouse.privacy import erase_viewer, stored_viewer_id

    with warehouse_here(settings, "erase a viewer", about="the erasure") as client:
        erased = erase_viewer(client, stored_viewer_id(viewer_id, settings), requested_by)
        # As the route does (warehouse.privacy_api); this process exits when done, so a retrain runs
        # here and now rather than in the background.
        followups = (
            {"recommender": retrain_after_erasure(client, settings, wait=True)} if erased.removed_anything else {}
        )
    return {**erased.to_json(), "followups": followups}


def _print_report(report: dict[str, Any]) -> None:
    removed = report.get("rows_removed", {})
    rows = ", ".join(f"{table} {count:,}" for table, count in sorted(removed.items())) or "nothing was stored"
    lines = [
        f"erased viewer sha256:{report.get('viewer_id_hash')} (erasure {report.get('erasure_id')}, "
        f"logged as requested by {report.get('requested_by')!r})",
        f"rows removed: {rows}",
        *(f"{name}: {note}" for name, note in report.get("followups", {}).items()),
    ]
    sys.stderr.write("\n".join(lines) + "\n")
