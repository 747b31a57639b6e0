"""The gateway's token check (ingest.auth): public routes, the warehouse API's answers, their cache, token limits."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from foundation.access import new_token
from ingest.auth import TokenRequired, WhoAmI, is_public
from ingest.limits import RateLimitConfig, RateLimiter

READER, ADMIN, OTHER = new_token(), new_token(), new_token()
NO_LIMITS = RateLimitConfig(beacons="", refused_beacons="", players="", api="", per_token="")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class WarehouseApi:
    """``GET /v1/auth/whoami`` as the warehouse API answers it, counting the questions."""

    def __init__(self) -> None:
        self.valid = {str(READER): ["read"], str(ADMIN): ["admin"]}
        self.asked = 0
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        assert request.url.path == "/v1/auth/whoami"
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid:
            return httpx.Response(401, json={"detail": "token is unknown or revoked"})
        return httpx.Response(200, json={"token_id": token[4:20], "name": "t", "scopes": self.valid[token]})


def gateway(upstream: WarehouseApi, clock: FakeClock, config: RateLimitConfig = NO_LIMITS) -> TestClient:
    app = FastAPI()
    for path in ("/v1/steering/scores", "/v1/steering/hls", "/v1/stats/overview", "/metrics", "/healthz", "/v1/beacons",
                 "/demo/"):  # fmt: skip
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET", "POST"])
    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    whoami = WhoAmI(client, "http://warehouse", ttl_s=2.0, clock=clock)
    app.add_middleware(TokenRequired, whoami=whoami, limiter=RateLimiter(config))
    return TestClient(app)


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_public_list() -> None:
    public = ["/v1/beacons", "/v1/cmcd", "/v1/steering/hls", "/v1/steering/dash", "/healthz", "/openapi.json",
              "/docs", "/demo/", "/sdk/demo/index.html", "/media/bbb/master.m3u8"]  # fmt: skip
    guarded = ["/v1/steering/scores", "/v1/steering/decision", "/v1/steering/groups", "/metrics",
               "/v1/stats/overview", "/v1/keys", "/v1/steering/hls/x", "/anything"]  # fmt: skip
    assert all(is_public(path) for path in public)
    assert not any(is_public(path) for path in guarded)


def test_public_routes_need_no_token_and_ask_nobody() -> None:
    upstream = WarehouseApi()
    client = gateway(upstream, FakeClock())
    for path in ("/v1/steering/hls", "/healthz", "/v1/beacons", "/demo/"):
        assert client.get(path).status_code == 200, path
    assert upstream.asked == 0


def test_without_a_token_the_gateway_answers_401_itself() -> None:
    upstream = WarehouseApi()
    client = gateway(upstream, FakeClock())
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        answer = client.get("/v1/steering/scores", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
        assert "qoe_<" in answer.json()["detail"]
    assert upstream.asked == 0  # malformed: refused without a question upstream


def test_answers_are_kept_two_seconds_so_a_revocation_lands_within_them() -> None:
    upstream, clock = WarehouseApi(), FakeClock()
    client = gateway(upstream, clock)
    for _ in range(3):
        assert client.get("/metrics", headers=bearer(READER)).status_code == 200
    assert upstream.asked == 1
    del upstream.valid[str(READER)]  # revoked on the warehouse API
    clock.now = 1.9
    assert client.get("/metrics", headers=bearer(READER)).status_code == 200
    clock.now = 2.0
    revoked = client.get("/metrics", headers=bearer(READER))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert client.get("/metrics", headers=bearer(READER)).status_code == 401
    assert upstream.asked == 2  # the refusal is remembered too


def test_an_unknown_token_is_401_and_an_admin_token_reads() -> None:
    client = gateway(WarehouseApi(), FakeClock())
    assert client.get("/v1/steering/scores", headers=bearer(OTHER)).status_code == 401
    assert client.get("/v1/steering/scores", headers=bearer(ADMIN)).status_code == 200


def test_when_the_warehouse_api_cannot_say_the_answer_is_503() -> None:
    upstream = WarehouseApi()
    upstream.down = True
    answer = gateway(upstream, FakeClock()).get("/v1/steering/scores", headers=bearer(READER))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"


def test_each_token_has_its_own_budget_on_the_read_apis() -> None:
    path = "/v1/stats/overview"
    config = RateLimitConfig(beacons="", refused_beacons="", players="", api="", per_token="2/minute")
    client = gateway(WarehouseApi(), FakeClock(), config)
    assert [client.get(path, headers=bearer(READER)).status_code for _ in range(3)] == [200, 200, 429]
    refused = client.get(path, headers=bearer(READER))
    assert "access token" in refused.json()["detail"] and int(refused.headers["retry-after"]) >= 1
    assert client.get(path, headers=bearer(ADMIN)).status_code == 200  # another token's budget is untouched
    assert [client.get("/metrics", headers=bearer(READER)).status_code for _ in range(3)] == [200] * 3  # scrapes
    # An edge fleet polls the delivery routes for every group: the players' per-address limit bounds them.
    assert [client.get("/v1/steering/scores", headers=bearer(READER)).status_code for _ in range(3)] == [200] * 3
