"""The gateway's operations routes (ingest/app.py): each answer is one their OpenAPI documents."""

from __future__ import annotations

from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import create_app
from ingest.producer import MemoryRecordSink
from tests.factories.openapi import assert_documented


def test_metrics_are_documented_as_prometheus_text() -> None:
    """The OpenAPI said application/json (FastAPI's default) for the text/plain exposition."""
    client = TestClient(create_app(Settings(_env_file=None), MemoryRecordSink()))
    response = client.get("/metrics")
    assert response.status_code == 200 and "qoe_ingest" in response.text
    assert_documented(client.get("/openapi.json").json(), "GET", "/metrics", response)


def test_an_unready_healthz_is_documented() -> None:
    sink = MemoryRecordSink()
    sink.available = False
    client = TestClient(create_app(Settings(_env_file=None), sink))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert_documented(client.get("/openapi.json").json(), "GET", "/healthz", response)
