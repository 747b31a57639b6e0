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
import getpass
import json
import re
import sys
from typing import Any

from foundation.settings import Settings

EXIT_FAILED = 1
ERASURE_ROUTE = "/v1/privacy/erasure"
ERASURE_TIMEOUT_S = 600.0  # a mutation rewrites every part holding the viewer: minutes on a large warehouse
_VIEWER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # schemas.beacon.Id: what players may send


class ErasureFailedError(RuntimeError):
    """The erasure did not complete; the message says why."""


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
    from clickhouse_connect.driver.exceptions import DatabaseError

    from foundation.access import admin_headers
    from recommender.remote import WarehouseBusyError, host_api_url

    requested_by = args.requested_by or _operator()
    host = host_api_url(settings)
    try:
        if host is not None:
            sys.stderr.write(f"the running platform holds the warehouse: erasing there ({host})\n")
            report = erase_on_host(host, args.viewer, requested_by, admin_headers(settings))
        else:
            report = _erase_here(settings, args.viewer, requested_by)
    except (ErasureFailedError, WarehouseBusyError) as exc:
        return _fail(str(exc))
    except DatabaseError as exc:
        return _fail(f"the warehouse refused the erasure ({exc}); has it been migrated (qoe migrate)?")
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _print_report(report)
    return 0


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name, e.g. a container's numeric user
        return "cli"


def erase_on_host(url: str, viewer_id: str, requested_by: str, headers: dict[str, str]) -> dict[str, Any]:
    """Ask the warehouse-side API at ``url`` to erase the viewer, presenting an admin token in
    ``headers``; its report."""
    import httpx

    body = {"viewer_id": viewer_id, "requested_by": requested_by}
    try:
        answer = httpx.post(f"{url}{ERASURE_ROUTE}", json=body, headers=headers, timeout=ERASURE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ErasureFailedError(f"the platform did not answer the erasure: {type(exc).__name__}: {exc}") from exc
    if answer.status_code != 200:
        raise ErasureFailedError(f"the platform refused the erasure: {answer.status_code} {answer.text[:300]}")
    report: dict[str, Any] = answer.json()
    return report


def _erase_here(settings: Settings, viewer_id: str, requested_by: str) -> dict[str, Any]:
    from recommender.privacy import retrain_after_erasure
    from recommender.remote import open_warehouse
    from warehouse.privacy import erase_viewer, stored_viewer_id

    client = open_warehouse(settings, "erase a viewer")
    erased = erase_viewer(client, stored_viewer_id(viewer_id, settings), requested_by)
    # As the route does (warehouse.privacy_api); this process exits when done, so a retrain runs
    # here and now rather than in the background.
    followups = {"recommender": retrain_after_erasure(client, settings, wait=True)} if erased.removed_anything else {}
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


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    return EXIT_FAILED
