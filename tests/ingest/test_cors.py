"""CORS on the ingest routes: players on other origins may post beacons and CMCD reports."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import create_app
from ingest.cors import parse_origins
from ingest.producer import MemoryRecordSink


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture
def client(sink: MemoryRecordSink) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(_env_file=None, max_body_bytes=50_000), sink)) as test_client:
        yield test_client


PREFLIGHT = {
    "origin": "https://video.example",
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type",
}


@pytest.mark.parametrize("path", ["/v1/cmcd", "/v1/beacons"])
def test_ingest_routes_answer_the_preflight(client: TestClient, path: str) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]


def test_ingest_answers_expose_retry_after_to_other_origins(client: TestClient, sink: MemoryRecordSink) -> None:
    sink.available = False
    response = client.post("/v1/beacons", content=orjson.dumps({"x": 1}), headers={"origin": "https://video.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_cors_stays_off_other_routes(client: TestClient) -> None:
    response = client.get("/healthz", headers={"origin": "https://video.example"})
    assert "access-control-allow-origin" not in response.headers
    assert client.options("/healthz", headers=PREFLIGHT).status_code == 405


def test_allowed_origins_can_be_listed(sink: MemoryRecordSink) -> None:
    assert parse_origins("") == ("*",)
    assert parse_origins(" https://a.example/, https://b.example ") == ("https://a.example", "https://b.example")
    app = create_app(Settings(_env_file=None), sink, cors_origins=parse_origins("https://video.example"))
    with TestClient(app) as listed:
        allowed = listed.options("/v1/cmcd", headers=PREFLIGHT)
        refused = listed.options("/v1/cmcd", headers={**PREFLIGHT, "origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://video.example"
    assert refused.status_code == 400
