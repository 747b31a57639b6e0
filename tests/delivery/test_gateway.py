"""Gateway mounting helpers: routes ahead of the proxy, metrics sources, lifespans."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from delivery.gateway import (
    SteeringCollector,
    add_metrics_source,
    chain_lifespan,
    include_first,
    registry_source,
    upstream_source,
)
from tests.factories.delivery import NO_MOBILE_LIVE, score, steering_service


def _app_with_catch_all() -> FastAPI:
    app = FastAPI()
    registry = CollectorRegistry()
    Counter("qoe_ingest_things", "ingest's own metric", registry=registry).inc()
    app.state.metrics = type("Metrics", (), {"registry": registry})()
    catch_all = APIRouter()

    @catch_all.get("/v1/{path:path}")
    def proxied(path: str) -> dict[str, str]:
        return {"proxied": path}

    @catch_all.get("/metrics")
    def old_metrics() -> str:
        return "old"

    app.include_router(catch_all)
    return app


def test_routes_included_first_win_over_the_proxy() -> None:
    app = _app_with_catch_all()
    ours = APIRouter()

    @ours.get("/v1/steering/hls")
    def hls() -> dict[str, str]:
        return {"served": "here"}

    include_first(app, ours)
    client = TestClient(app)
    assert client.get("/v1/steering/hls").json() == {"served": "here"}
    assert client.get("/v1/steering/decisions").json() == {"proxied": "steering/decisions"}


def test_metrics_sources_are_appended_to_the_gateways_own() -> None:
    app = _app_with_catch_all()
    service, _ = steering_service(score("cdn-a", 80))
    service.steer(NO_MOBILE_LIVE)
    registry = CollectorRegistry()
    registry.register(SteeringCollector(service))
    add_metrics_source(app, registry_source(registry))

    async def extra() -> bytes:
        return b"# TYPE qoe_extra gauge\nqoe_extra 7\n"

    add_metrics_source(app, extra)
    text = TestClient(app).get("/metrics").text
    assert text.index("qoe_ingest_things_total 1.0") < text.index("qoe_steering_requests_total 1.0")
    assert text.rstrip().endswith("qoe_extra 7")


@pytest.mark.asyncio
async def test_an_unreachable_upstream_is_a_gauge_not_a_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        down = await upstream_source(client, "http://warehouse/v1/autoscaling/metrics")()
    assert down.endswith(b"qoe_autoscaling_metrics_up 0\n")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='qoe_desired_replicas{region="eu",tier="edge"} 4.0\n')

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        up = await upstream_source(client, "http://warehouse/v1/autoscaling/metrics")()
    assert up.startswith(b"qoe_desired_replicas") and up.endswith(b"qoe_autoscaling_metrics_up 1\n")


def test_chained_lifespans_run_inside_the_original() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def original(_: FastAPI) -> AsyncIterator[None]:
        events.append("original up")
        yield
        events.append("original down")

    @contextlib.asynccontextmanager
    async def extra() -> AsyncIterator[None]:
        events.append("extra up")
        yield
        events.append("extra down")

    app = FastAPI(lifespan=original)
    chain_lifespan(app, extra)
    with TestClient(app):
        pass
    assert events == ["original up", "extra up", "extra down", "original down"]


def test_the_gateway_steers_while_kafka_is_away() -> None:
    from delivery.gateway import mount_delivery
    from foundation.broker import free_port
    from foundation.settings import Settings

    app = _app_with_catch_all()
    settings = Settings(_env_file=None)
    service = mount_delivery(app, settings, f"127.0.0.1:{free_port()}", warehouse_api="http://127.0.0.1:9")
    with TestClient(app) as client:
        manifest = client.get("/v1/steering/hls", params={"country": "NO", "device": "tv"})
        assert manifest.status_code == 200 and manifest.headers["access-control-allow-origin"] == "*"
        assert sorted(manifest.json()["PATHWAY-PRIORITY"]) == ["cdn-a", "cdn-b", "cdn-c"]
        assert client.get("/v1/steering/groups").json()["groups"][0]["group"] == "NO/*/tv/*"
        metrics = client.get("/metrics").text
        assert "qoe_steering_requests_total 1.0" in metrics and "qoe_autoscaling_metrics_up 0" in metrics
    assert service.decision_log is None
