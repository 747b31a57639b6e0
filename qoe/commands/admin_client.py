"""The way to the warehouse of the commands that administer it (``qoe keys``, ``qoe users``, ``qoe erase``).

While the platform runs on the embedded warehouse, its worker holds the warehouse, so a command asks
the running API's admin routes with the operator's admin token (``QOE_ADMIN_TOKEN``, or the one
``qoe up`` wrote under the data directory); otherwise it opens the warehouse here. Either way a
refusal is one :class:`RefusedError` whose message says why, which :func:`fail` turns into exit 1.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from foundation.access import admin_headers
from foundation.settings import Settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

EXIT_FAILED = 1
TIMEOUT_S = 30.0


class RefusedError(RuntimeError):
    """The platform or the warehouse refused; the message says why."""


class NotFoundError(RefusedError):
    """The platform answered 404: a caller for whom "no such thing" is an answer catches it."""


def running_host(settings: Settings, doing: str = "asking it") -> str | None:
    """The API of a running platform that holds the warehouse, or None; the operator is told which."""
    from recommender.remote import host_api_url

    host = host_api_url(settings)
    if host is not None:
        sys.stderr.write(f"the running platform holds the warehouse: {doing} ({host})\n")
    return host


def ask(
    host: str,
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    about: str = "",
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """The answer of the platform's API to one admin request; ``about`` (e.g. "the erasure") names
    the request in a refusal. Without an admin token the API could only answer 401, so none is sent."""
    import httpx

    headers = admin_headers(settings)
    if not headers:
        raise RefusedError("the running platform needs an admin token: set QOE_ADMIN_TOKEN")
    what = f" {about}" if about else ""
    try:
        answer = httpx.request(method, f"{host}{path}", json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RefusedError(f"the platform did not answer{what}: {type(exc).__name__}: {exc}") from exc
    if answer.status_code >= 300:
        refusal = NotFoundError if answer.status_code == 404 else RefusedError
        raise refusal(f"the platform refused{what}: {answer.status_code} {answer.text[:300]}")
    result: dict[str, Any] = answer.json()
    return result


@contextmanager
def warehouse_here(settings: Settings, purpose: str, *, about: str = "") -> Iterator[Client]:
    """The warehouse, opened by this process to ``purpose`` (e.g. "manage access tokens"); a busy or
    unmigrated warehouse, also while in use, is a RefusedError that says what to do."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    from recommender.remote import WarehouseBusyError, open_warehouse

    what = f" {about}" if about else ""
    try:
        yield open_warehouse(settings, purpose)
    except WarehouseBusyError as exc:
        raise RefusedError(str(exc)) from exc
    except DatabaseError as exc:
        raise RefusedError(f"the warehouse refused{what} ({exc}); has it been migrated (qoe migrate)?") from exc


def operator() -> str:
    """Who made a change, for the warehouse's records: ``cli:<login name>``, or ``cli`` without one
    (e.g. a container's numeric user)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def fail(message: str) -> int:
    """Tell the operator why, on one line (a refusal may span several), and exit 1."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    return EXIT_FAILED
