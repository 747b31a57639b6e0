"""The gateway's proxy: an explicit allow-list of (method, path) pairs, and a body cap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from ingest.gateway import AllowList, proxy_router

ROUTES = [("GET", "/v1/stats/overview"), ("GET", "/v1/views/{view_id}"), ("POST", "/v1/recommender/train")]
UPSTREAM = "http://warehouse-api"
MAX_BODY = 1000


class Upstream:
    """The warehouse API's stand-in: records what reached it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"path": request.url.path, "body": len(request.content)})


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
async def gateway(upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as to_upstream:
        app.include_router(proxy_router(UPSTREAM, to_upstream, ROUTES, MAX_BODY))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client


async def test_allowed_pairs_are_forwarded_with_their_query(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await gateway.get("/v1/views/view-1", params={"x": "1"})
    assert response.status_code == 200
    assert response.json()["path"] == "/v1/views/view-1"
    assert str(upstream.requests[0].url) == f"{UPSTREAM}/v1/views/view-1?x=1"
    assert (await gateway.post("/v1/recommender/train", content=b"{}")).status_code == 200


async def test_unknown_paths_are_404_without_asking_upstream(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    for path in ("/v1/admin/secrets", "/v1/views/a/b", "/v1/views/", "/v1/stats/overview/more"):
        response = await gateway.get(path)
        assert response.status_code == 404, path
        assert "no route" in response.json()["detail"]
    assert upstream.requests == []


async def test_other_methods_are_405_with_allow(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await gateway.delete("/v1/views/view-1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert (await gateway.get("/v1/recommender/train")).status_code == 405
    assert upstream.requests == []


async def test_a_body_past_the_cap_is_413_without_asking_upstream(
    gateway: httpx.AsyncClient, upstream: Upstream
) -> None:
    declared = await gateway.post("/v1/recommender/train", content=b"x" * (MAX_BODY + 1))
    assert declared.status_code == 413
    assert "exceeds the limit of 1000 bytes" in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap counts what streams in
        for _ in range(20):
            yield b"x" * 100

    streamed = await gateway.post("/v1/recommender/train", content=chunks())
    assert streamed.status_code == 413
    assert upstream.requests == []
    assert (await gateway.post("/v1/recommender/train", content=b"x" * MAX_BODY)).json()["body"] == MAX_BODY


def test_allow_list_merges_methods_of_one_template() -> None:
    allowed = AllowList([("GET", "/v1/things/{id}"), ("delete", "/v1/things/{id}")])
    assert allowed.methods_for("/v1/things/42") == {"GET", "DELETE"}
    assert allowed.methods_for("/v1/things") == set()


async def test_another_method_on_a_route_of_the_gateway_is_405_with_allow(upstream: Upstream) -> None:
    """The proxy's catch-all used to answer 404 "no route" to, say, DELETE /v1/beacons."""
    app = FastAPI()

    @app.post("/v1/beacons")
    async def beacons() -> dict[str, str]:
        return {}

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as to_upstream:
        app.include_router(proxy_router(UPSTREAM, to_upstream, ROUTES, MAX_BODY))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            response = await client.delete("/v1/beacons")
            assert (await client.get("/v1/nothing")).status_code == 404
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert upstream.requests == []


async def test_any_path_and_header_bytes_are_forwarded_as_sent(gateway: httpx.AsyncClient, upstream: Upstream) -> None:
    """Schemathesis got 500s for a path holding %04: decoded, it made no valid URL to forward. A header
    byte past ASCII failed the same way (httpx sends str headers as ASCII)."""
    response = await gateway.get("/v1/views/a%04%C3%A9%20b", headers={b"x-note": b"caf\xe9"})
    assert response.status_code == 200
    [forwarded] = upstream.requests
    assert forwarded.url.raw_path == b"/v1/views/a%04%C3%A9%20b"
    assert (b"x-note", b"caf\xe9") in forwarded.headers.raw
