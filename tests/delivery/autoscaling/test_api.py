from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from delivery.autoscaling.api import autoscaling_router
from delivery.autoscaling.signals import AutoscalingSignals, SignalConfig
from tests.factories.delivery import FakeDemandSource, demand_frame
from tests.factories.openapi import assert_documented

NOW = datetime(2026, 9, 17, 18, 0, 45, tzinfo=UTC)


def client_for(source: FakeDemandSource) -> TestClient:
    signals = AutoscalingSignals(source, SignalConfig(min_refresh_s=0), registry=CollectorRegistry(), clock=lambda: NOW)
    app = FastAPI()
    app.state.autoscaling = signals
    app.include_router(autoscaling_router())
    return TestClient(app)


def test_signals_endpoint_serves_the_document() -> None:
    client = client_for(FakeDemandSource(demand_frame(NOW.replace(second=0), regions={"eu": 1.0, "us": 0.3})))
    response = client.get("/v1/autoscaling/signals")
    assert response.status_code == 200
    body = response.json()
    assert set(body["regions"]) == {"eu", "us"}
    for region in body["regions"].values():
        for tier in ("origin", "edge", "ingest", "stream_workers"):
            assert isinstance(region["tiers"][tier]["desired_replicas"], int)


def test_region_filter_and_unknown_region() -> None:
    client = client_for(FakeDemandSource(demand_frame(NOW.replace(second=0), regions={"eu": 1.0, "us": 0.3})))
    assert set(client.get("/v1/autoscaling/signals", params={"region": "us"}).json()["regions"]) == {"us"}
    missing = client.get("/v1/autoscaling/signals", params={"region": "mars"})
    assert missing.status_code == 404 and "mars" in missing.json()["error"]


def test_failing_source_answers_503_not_500() -> None:
    source = FakeDemandSource(demand_frame(NOW.replace(second=0)))
    source.fail_with = TimeoutError("query timed out")
    response = client_for(source).get("/v1/autoscaling/signals")
    assert response.status_code == 503
    assert "query timed out" in response.json()["error"]


def test_the_404_and_503_are_documented() -> None:
    """Both were answered but undocumented: the OpenAPI listed only 200 and a 422 never sent."""
    unknown = client_for(FakeDemandSource(demand_frame(NOW.replace(second=0), regions={"eu": 1.0})))
    failing_source = FakeDemandSource(demand_frame(NOW.replace(second=0)))
    failing_source.fail_with = TimeoutError("query timed out")
    failing = client_for(failing_source)
    for client, params, status in ((unknown, {"region": "mars"}, 404), (failing, {}, 503)):
        response = client.get("/v1/autoscaling/signals", params=params)
        assert response.status_code == status
        assert_documented(client.get("/openapi.json").json(), "GET", "/v1/autoscaling/signals", response)
