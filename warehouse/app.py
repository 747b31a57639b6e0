"""The warehouse-side API app: the process that owns the warehouse serves the routers it is given.

Which routers make up the platform's API is the composition root's choice (``qoe.api``); a
benchmark serves just the one it measures.

A query the warehouse stops or cannot run is answered with the reason, never a bare 500: past
its time bound (``warehouse_max_execution_s``) 503 with Retry-After; past its own memory bound
(``warehouse_max_memory_bytes``) 422, since the request is too broad to answer as asked; and while
ClickHouse is unreachable or short of memory overall, 503 with Retry-After.

Given a token verifier (the composition root always gives one), every route of the routers needs
an access token: the admin scope for routes tagged ``admin``, read for the rest
(:mod:`warehouse.access_api`). ``/healthz`` and the OpenAPI document and its pages stay public:
probes need the first, and the API's description holds no data. 401 and 403 say why.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from foundation.access import AccessDeniedError, Refresher, TokenStoreUnavailableError, TokenVerifier
from foundation.http import OrjsonResponse, problem
from foundation.settings import Settings
from warehouse.access_api import token_guard
from warehouse.client import ping

log = logging.getLogger(__name__)

# ClickHouse error codes (src/Common/ErrorCodes.cpp).
TIMEOUT_EXCEEDED = 159
TOO_SLOW = 160  # the estimated execution time already exceeds max_execution_time
MEMORY_LIMIT_EXCEEDED = 241

# Every guarded route may answer these: its OpenAPI says so, for clients and fuzzers.
ACCESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid access token: send Authorization: Bearer qoe_<id>_<secret>."},
    403: {"description": "The token lacks the scope this route needs (admin routes need admin)."},
}


def create_api(
    settings: Settings,
    client: Client,
    routers: Sequence[APIRouter],
    registry: CollectorRegistry | None = None,
    tokens: TokenVerifier | None = None,
) -> FastAPI:
    """The API serving ``routers``; with ``tokens``, each of their routes needs an access token."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        refresher = Refresher(tokens).start() if tokens is not None else None
        yield
        if refresher is not None:
            refresher.stop()

    app = FastAPI(
        title="QoE platform warehouse API", version="1", default_response_class=OrjsonResponse, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.warehouse = client
    app.state.registry = registry or CollectorRegistry()
    guarded = [Depends(token_guard(tokens))] if tokens is not None else []
    for router in routers:
        app.include_router(router, dependencies=guarded, responses=ACCESS_RESPONSES if tokens is not None else None)

    @app.exception_handler(DatabaseError)
    async def warehouse_failed(_: Request, exc: DatabaseError) -> Response:
        return warehouse_error(settings, exc)

    @app.exception_handler(AccessDeniedError)
    async def access_denied(_: Request, exc: AccessDeniedError) -> Response:
        return problem(exc.status, exc.reason, exc.headers)

    @app.exception_handler(TokenStoreUnavailableError)
    async def tokens_unavailable(_: Request, exc: TokenStoreUnavailableError) -> Response:
        return problem(503, str(exc), {"Retry-After": str(settings.retry_after_s)})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> OrjsonResponse:
        ping(client)
        return OrjsonResponse({"status": "ok"})

    return app


def warehouse_error(settings: Settings, exc: DatabaseError) -> Response:
    """The answer to a query the warehouse stopped, or could not run."""
    retry = {"Retry-After": str(settings.retry_after_s)}
    if exc.code in (TIMEOUT_EXCEEDED, TOO_SLOW):
        seconds = settings.warehouse_max_execution_s
        return problem(503, f"the query ran past its time limit of {seconds:g} s: narrow the window or filters", retry)
    if exc.code == MEMORY_LIMIT_EXCEEDED and "(total)" in str(exc):
        return problem(503, "the warehouse is short of memory; retry later", retry)
    if exc.code == MEMORY_LIMIT_EXCEEDED:
        mib = settings.warehouse_max_memory_bytes / 2**20
        return problem(
            422, f"the query needs more than its memory limit of {mib:,.0f} MiB: narrow the window or filters"
        )
    if isinstance(exc, OperationalError) and exc.code is None:  # no answer at all: refused, reset, timed out
        log.warning("the warehouse is unavailable: %s", exc)
        return problem(503, "the warehouse is unavailable; retry later", retry)
    log.error("warehouse query failed", exc_info=exc)
    return problem(500, "the warehouse query failed")
