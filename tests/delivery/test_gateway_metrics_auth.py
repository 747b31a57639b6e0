"""The gateway's /metrics asks the warehouse API for its gauges with the scraper's own token (delivery.gateway)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from delivery.gateway import add_metrics_source, upstream_source
from ingest.metrics import IngestMetrics


def test_the_scrapers_authorization_reaches_the_warehouse_api_and_nothing_else_does() -> None:
    seen: list[str | None] = []

    def warehouse_api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        status = 200 if request.headers.get("authorization") else 401
        return httpx.Response(status, text="qoe_desired_replicas 1.0\n" if status == 200 else "")

    app = FastAPI()
    app.state.metrics = IngestMetrics.create()
    client = httpx.AsyncClient(transport=httpx.MockTransport(warehouse_api))
    add_metrics_source(app, upstream_source(client, "http://warehouse/v1/autoscaling/metrics"))
    scrape = TestClient(app)
    assert "qoe_autoscaling_metrics_up 1" in scrape.get("/metrics", headers={"Authorization": "Bearer t"}).text
    assert "qoe_autoscaling_metrics_up 0" in scrape.get("/metrics").text  # refused upstream: a gauge, not a failure
    assert seen == ["Bearer t", None]
