"""The ingest application (and gateway): ``create_app`` wires what the entrypoint built."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from foundation.access import admin_headers
from foundation.http import OrjsonResponse
from foundation.properties import PropertyKeys
from foundation.settings import Settings
from ingest import beacons, cmcd
from ingest.auth import TokenRequired, WhoAmI
from ingest.cors import DEFAULT_ALLOW_ORIGINS, IngestCORS
from ingest.deps import MetricsDep, SinkDep
from ingest.gateway import Route, proxy_router
from ingest.intake import IntakeConfig
from ingest.limits import RateLimitConfig, RateLimited, RateLimiter, rule_for
from ingest.metrics import IngestMetrics
from ingest.producer import RecordSink
from ingest.properties import PropertyCheck, warehouse_loader
from schemas import Beacon


def _property_keys(settings: Settings, upstream: str | None, client: httpx.AsyncClient | None) -> PropertyKeys | None:
    """The key snapshot, loaded from the warehouse API with the gateway's admin token; None without one."""
    if not upstream or client is None:
        return None
    load = warehouse_loader(client, upstream, lambda: admin_headers(settings))
    return PropertyKeys(load, refresh_every_s=settings.property_keys_refresh_s)


def create_app(
    settings: Settings,
    sink: RecordSink,
    *,
    upstream: str | None = None,
    upstream_routes: Sequence[Route] = (),
    routers: Sequence[APIRouter] = (),
    registry: CollectorRegistry | None = None,
    cors_origins: Sequence[str] = DEFAULT_ALLOW_ORIGINS,
    cmcd_enabled: bool = True,
    limiter: RateLimiter | None = None,
    require_tokens: bool = False,
) -> FastAPI:
    """Ingest routes, plus ``routers`` served here, plus (last) a proxy to ``upstream`` of the
    (method, path) pairs in ``upstream_routes``.

    Every route but /healthz and /metrics is rate limited per client (``limiter``, by default
    from the settings' ``rate_limit_*``). ``cors_origins`` may post to the ingest routes from
    other origins; ``cmcd_enabled=False`` answers CMCD reports with 410, which tells players to
    stop sending them. ``require_tokens``: every route but the public ones needs a read token,
    which the warehouse API at ``upstream`` vouches for (:mod:`ingest.auth`).
    """
    if require_tokens and not upstream:
        raise ValueError("require_tokens needs the upstream warehouse API, which checks the tokens")
    proxy_client = httpx.AsyncClient(timeout=30.0) if upstream else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(sink.close)  # the producer's flush waits on Kafka: not on the loop
        if proxy_client is not None:
            await proxy_client.aclose()

    app = FastAPI(
        title="QoE platform API",
        version="1",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.sink = sink
    app.state.metrics = IngestMetrics.create(registry)
    app.state.cmcd = cmcd.CmcdIngest(enabled=cmcd_enabled)
    app.state.intake = IntakeConfig.from_settings(settings)
    app.state.cors_origins = tuple(cors_origins)
    keys = _property_keys(settings, upstream, proxy_client)
    app.state.properties = PropertyCheck(keys, settings.property_keys_required)
    app.state.limiter = limiter or RateLimiter(
        RateLimitConfig.from_settings(settings),
        registry=app.state.metrics.registry,
        trusts=app.state.intake.trusts,
    )
    if require_tokens and upstream and proxy_client is not None:
        # Innermost: the address limit runs first, so a flood of guessed tokens is cut per address.
        whoami = WhoAmI(proxy_client, upstream)
        app.add_middleware(
            TokenRequired, whoami=whoami, limiter=app.state.limiter, retry_after_s=settings.retry_after_s
        )
    # Added before CORS, so it runs inside it: a 429 carries the CORS headers a page needs to read it.
    app.add_middleware(RateLimited, limiter=app.state.limiter)
    app.add_middleware(IngestCORS, allow_origins=cors_origins)
    app.include_router(beacons.router, tags=["ingest"])
    app.include_router(cmcd.router, tags=["ingest"])
    app.include_router(_ops_router(), tags=["operations"])
    for router in routers:
        app.include_router(router)
    if upstream and proxy_client is not None:
        app.include_router(proxy_router(upstream, proxy_client, upstream_routes, settings.max_body_bytes))
    _document_beacon_schema(app)
    _document_rate_limits(app)
    return app


class BeaconFastPath:
    """Serves ``POST /v1/beacons`` ahead of FastAPI's middleware stack, routing and dependency solving.

    Under load those cost more than validating and producing a beacon: a profile of ingest put
    them at about a quarter of the process. The same endpoint function answers, behind the same
    CORS policy and rate limits; every other path and method goes to ``app`` unchanged (including
    the preflight).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        limited = RateLimited(self._post_beacon, app.state.limiter)
        self._beacons = IngestCORS(limited, allow_origins=app.state.cors_origins, paths=[beacons.PATH])

    async def _post_beacon(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await beacons.post_beacon(Request(scope, receive))
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == beacons.PATH:
            scope["app"] = self.app  # what Starlette would set: the endpoint reads app.state
            await self._beacons(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _ops_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/healthz",
        summary="Ready only when Kafka is reachable",
        responses={503: {"description": "Kafka is unreachable: not ready."}},
    )
    async def healthz(sink: SinkDep) -> Response:
        if sink.healthy():
            return OrjsonResponse({"status": "ok", "kafka": "reachable"})
        return OrjsonResponse({"status": "unavailable", "kafka": "unreachable"}, status_code=503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)  # text, not JSON
    async def metrics(metrics: MetricsDep) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _document_beacon_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, object]:
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        beacon_schema = Beacon.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(beacon_schema.pop("$defs", {}))
        components["Beacon"] = beacon_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


TOO_MANY = {"description": "Too many requests from this client: retry after Retry-After seconds."}


def _document_rate_limits(app: FastAPI) -> None:
    """Every limited route may answer 429: its OpenAPI says so, for clients and fuzzers."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        for path, operations in schema.get("paths", {}).items():
            if rule_for(path) is not None:
                for operation in operations.values():
                    operation.setdefault("responses", {}).setdefault("429", TOO_MANY)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
