"""Commands that need the warehouse, when the running platform holds it.

The embedded warehouse (chDB) opens in one process only: while ``qoe up`` runs, its worker
process owns it. ``qoe recommender train`` then asks that process to train (``POST /v1/recommender/training``
on the warehouse-side API) and follows the run through ``GET /v1/recommender/training``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings

POLL_S = 0.5
HEALTH_TIMEOUT_S = 2.0


class WarehouseBusyError(RuntimeError):
    """The warehouse cannot be opened here; the message says why and what to do."""


class HostTrainingError(RuntimeError):
    """The host could not train; the message is its reason."""


def host_api_url(settings: Settings) -> str | None:
    """The warehouse-side API of a running platform on this data, or None when none answers."""
    if not settings.embedded_warehouse:
        return None
    url = settings.resolved_internal_api_url()
    try:
        answered = httpx.get(f"{url}/healthz", timeout=HEALTH_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return None
    return url if answered else None


def open_warehouse(settings: Settings, what: str) -> Client:
    """A client on the warehouse, or WarehouseBusyError with what to do instead."""
    from warehouse.client import connect, warehouse_dir

    if host_api_url(settings) is not None:
        raise WarehouseBusyError(
            f"the running platform holds the embedded warehouse: stop it to {what}, or use a ClickHouse server "
            "(QOE_CLICKHOUSE_URL)"
        )
    try:
        return connect(settings)
    except Exception as exc:  # chDB refuses a directory another process holds with a generic error
        where = warehouse_dir(settings) if settings.embedded_warehouse else "the ClickHouse server"
        raise WarehouseBusyError(
            f"cannot open the warehouse at {where} ({type(exc).__name__}); is another qoe process using it?"
        ) from exc


def train_on_host(
    url: str,
    body: dict[str, Any],
    progress: Callable[[str, int, int], None],
    headers: dict[str, str],
    timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """Start a training on the host at ``url`` and wait for it; returns its final status.
    ``headers`` present the operator's admin token (training is an admin route).

    Raises HostTrainingError when the host skipped or failed the run (or runs another one).
    """
    with httpx.Client(base_url=url, timeout=30.0, headers=headers) as client:
        started = client.post("/v1/recommender/training", json=body)
        if started.status_code == 409:
            raise HostTrainingError("a training is running on the platform already; try again when it is done")
        if started.status_code != 202:
            raise HostTrainingError(f"the platform refused to train: {started.status_code} {started.text[:300]}")
        began = started.json().get("started_at")
        deadline = time.monotonic() + timeout_s
        while True:
            status: dict[str, Any] = client.get("/v1/recommender/training").json()
            if status.get("started_at") != began:
                raise HostTrainingError("the platform started another training meanwhile: see /v1/recommender/training")
            if status.get("state") != "running":
                break
            progress(str(status.get("step") or "waiting"), int(status.get("done", 0)), int(status.get("total", 0)))
            if time.monotonic() > deadline:
                raise HostTrainingError(f"the platform's training did not finish within {timeout_s:.0f} s")
            time.sleep(POLL_S)
    if status.get("state") != "succeeded":
        raise HostTrainingError(str(status.get("detail") or status.get("state")))
    return status
