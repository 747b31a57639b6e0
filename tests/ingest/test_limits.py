"""Rate limits of the gateway: 429 with Retry-After per client, and the abuser does not slow others."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from limits import parse
from prometheus_client import CollectorRegistry

from foundation.settings import Settings
from ingest.app import BeaconFastPath, create_app
from ingest.limits import (
    MemoryCounters,
    RateLimitConfig,
    RateLimiter,
    Rule,
    SharedCounters,
    client_address,
    counters_for,
    rule_for,
)
from ingest.producer import MemoryRecordSink
from tests.factories.beacons import beacon, playing_view_events

ABUSER, PLAYER = "198.51.100.7", "203.0.113.20"
INVALID = orjson.dumps({**beacon(), "version": "not a version"})


def _settings(**values: Any) -> Settings:
    # Per minute: a window no test run outlasts, so each count below is exact.
    defaults = {"rate_limit_refused_beacons": "5/minute", "rate_limit_api": "3/minute"}
    return Settings(_env_file=None, **{**defaults, **values})


Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
def sink() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture(params=["fastapi", "fast-path"])
async def client_from(request: pytest.FixtureRequest, sink: MemoryRecordSink) -> AsyncIterator[Client]:
    """Clients of one app, each from the address given; against FastAPI and the fast path."""
    app = create_app(_settings(), sink)
    served = BeaconFastPath(app) if request.param == "fast-path" else app
    opened: list[httpx.AsyncClient] = []

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=served, client=(address, 40_000))
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://gateway"))
        return opened[-1]

    yield client
    for each in opened:
        await each.aclose()


def _dead_letters(sink: MemoryRecordSink) -> int:
    return sum(1 for topic, _, _ in sink.records if topic == "beacons-dlq")


async def test_an_address_flooding_invalid_beacons_gets_429_while_others_flow(
    client_from: Client, sink: MemoryRecordSink
) -> None:
    abuser, player = client_from(ABUSER), client_from(PLAYER)
    statuses = [(await abuser.post("/v1/beacons", content=INVALID)).status_code for _ in range(50)]
    assert statuses == [422] * 5 + [429] * 45
    assert _dead_letters(sink) == 5  # past its budget, the abuser's bodies are not even read
    for _ in range(10):
        assert (await player.post("/v1/beacons", json=beacon(playing_view_events(5)))).status_code == 202
    limited = await abuser.post("/v1/beacons", json=beacon())
    assert limited.status_code == 429  # valid or not, until its refusals weigh less than 5 a minute
    # At most the rest of this minute's window, then a fifth of the next while its 5 weigh more than 4.
    assert 1 <= int(limited.headers["retry-after"]) <= 60 + 12
    assert "retry after" in limited.json()["detail"]


async def test_a_429_carries_the_cors_headers_a_page_needs(client_from: Client) -> None:
    abuser = client_from(ABUSER)
    for _ in range(6):
        response = await abuser.post("/v1/beacons", content=INVALID, headers={"origin": "https://video.example"})
    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


async def test_bad_cmcd_reports_do_not_shut_out_an_address_s_beacons(client_from: Client) -> None:
    player = client_from(PLAYER)
    cmcd = {"content-type": "application/cmcd"}
    statuses = [(await player.post("/v1/cmcd", content=b"not cmcd at all", headers=cmcd)).status_code for _ in range(7)]
    assert statuses[-1] == 429
    assert (await player.post("/v1/beacons", json=beacon())).status_code == 202


async def test_other_routes_have_their_own_budget_and_probes_none(client_from: Client) -> None:
    reader = client_from(PLAYER)
    statuses = [(await reader.get("/openapi.json")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert [(await reader.get("/healthz")).status_code for _ in range(10)] == [200] * 10
    assert (await reader.get("/metrics")).status_code == 200
    assert (await reader.post("/v1/beacons", json=beacon())).status_code == 202


async def test_denials_are_counted_in_the_metrics(client_from: Client) -> None:
    abuser = client_from(ABUSER)
    for _ in range(8):
        await abuser.post("/v1/beacons", content=INVALID)
    metrics = (await abuser.get("/metrics")).text
    assert 'qoe_gateway_rate_limited_total{rule="refused"} 3.0' in metrics


def test_routes_map_to_their_rule() -> None:
    assert rule_for("/v1/beacons") is rule_for("/v1/cmcd") is Rule.BEACONS
    assert rule_for("/v1/steering/hls") is rule_for("/media/bbb/master.m3u8") is Rule.PLAYERS
    assert rule_for("/v1/stats/overview") is rule_for("/docs") is rule_for("/v1/steering/decisions") is Rule.API
    assert rule_for("/healthz") is rule_for("/metrics") is None


def _scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 1234), "headers": headers}


def test_behind_a_trusted_proxy_the_client_is_the_one_it_forwards_for() -> None:
    def proxies(address: str | None) -> bool:
        return address in ("10.0.0.5", "10.0.0.6")

    assert client_address(_scope("10.0.0.5", "203.0.113.9"), proxies) == "203.0.113.9"
    # Entries left of the nearest untrusted one are the client's own claims: a forgery stays its own.
    assert client_address(_scope("10.0.0.5", "1.2.3.4, 203.0.113.9, 10.0.0.6"), proxies) == "203.0.113.9"
    assert client_address(_scope("198.51.100.1", "203.0.113.9"), proxies) == "198.51.100.1"
    assert client_address(_scope("10.0.0.5"), proxies) == "10.0.0.5"


async def test_through_a_trusted_proxy_each_client_has_its_own_budget(sink: MemoryRecordSink) -> None:
    app = create_app(_settings(trusted_proxies="10.0.0.0/8"), sink)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as proxy:
        for _ in range(6):
            abused = await proxy.post("/v1/beacons", content=INVALID, headers={"x-forwarded-for": ABUSER})
        accepted = await proxy.post("/v1/beacons", json=beacon(), headers={"x-forwarded-for": PLAYER})
    assert (abused.status_code, accepted.status_code) == (429, 202)


async def test_a_redis_store_that_refuses_connections_lets_requests_through() -> None:
    registry = CollectorRegistry()
    limiter = RateLimiter(
        RateLimitConfig(beacons="1/minute", refused_beacons="1/minute", storage_url="redis://127.0.0.1:1"),
        registry=registry,
    )  # nothing listens on port 1
    for _ in range(3):
        assert await limiter.admit(Rule.BEACONS, f"ip:{PLAYER}", "/v1/beacons") is None
    assert (registry.get_sample_value("qoe_gateway_rate_limit_errors_total") or 0) >= 3


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_steady_flood_is_let_through_evenly_not_in_bursts() -> None:
    clock = Clock(10.0)
    counters, item = MemoryCounters(clock), parse("2/second")
    assert [await counters.hit(item, "k") for _ in range(3)] == [True, True, False]
    assert await counters.spent(item, "k")
    assert await counters.reset_at(item, "k") - time.time() == pytest.approx(1.5, abs=0.01)
    clock.now = 11.25  # the previous window's 2 still weigh 1.5: nothing yet
    assert not await counters.hit(item, "k")
    clock.now = 11.5  # they weigh 1: one more
    assert [await counters.hit(item, "k") for _ in range(2)] == [True, False]
    clock.now = 13.0  # two windows on, nothing weighs
    assert not await counters.spent(item, "k")


async def test_keys_that_count_nothing_any_more_are_swept() -> None:
    clock = Clock(10.0)
    counters, item = MemoryCounters(clock), parse("2/second")
    await counters.hit(item, "k")
    clock.now = 12.5
    await counters.hit(item, "other")
    assert set(counters._windows) == {"other"}


def test_configuration_errors_are_caught_at_start() -> None:
    with pytest.raises(ValueError, match="rate limit api: 'lots' is not a rate"):
        RateLimiter(RateLimitConfig(api="lots"))
    with pytest.raises(ValueError, match="memcached:// is not supported"):
        RateLimiter(RateLimitConfig(storage_url="memcached://cache:11211"))
    assert isinstance(counters_for("", print), MemoryCounters)
    assert isinstance(counters_for("rediss://cache:6380", print), SharedCounters)


async def test_an_empty_rate_is_no_limit(sink: MemoryRecordSink) -> None:
    app: FastAPI = create_app(_settings(rate_limit_api=""), sink)
    transport = httpx.ASGITransport(app=app, client=(PLAYER, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as reader:
        assert {(await reader.get("/openapi.json")).status_code for _ in range(10)} == {200}


async def test_the_openapi_documents_429_on_limited_routes_only(client_from: Client) -> None:
    paths = (await client_from(PLAYER).get("/openapi.json")).json()["paths"]
    assert "429" in paths["/v1/beacons"]["post"]["responses"]
    assert "429" in paths["/v1/cmcd"]["post"]["responses"]
    assert "429" not in paths["/healthz"]["get"]["responses"]
