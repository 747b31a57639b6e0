"""The simulator's HTTP steering client against the real steering router on a local server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from qoe_sim.chooser import ChoiceRequest, ViewerGroup
from qoe_sim.steering_client import FIRST_ANSWER_MS, HttpSteeringChooser

from delivery.steering.api import steering_router
from delivery.steering.policy import PolicyConfig
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import SteeringConfig, SteeringService
from foundation.broker import free_port
from foundation.servers import ThreadedServer, serve_asgi
from schemas.steering import GLOBAL
from tests.factories.delivery import score

GROUP = ViewerGroup("NO", "NO-03", "eu", 2119, "phone", "wifi", "live")
CDNS = ("cdn-a", "cdn-b", "cdn-c")


def _request(reason: str, current: str | None = None, view_id: str = "v1") -> ChoiceRequest:
    return ChoiceRequest(view_id, 0, GROUP, 0.0, reason, current, CDNS)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[tuple[SteeringService, ThreadedServer]]:
    board = ScoreBoard()
    now = datetime.now(UTC)  # the service runs on the wall clock
    board.put_all([score("cdn-b", 90, group=GLOBAL, window_end=now), score("cdn-a", 70, group=GLOBAL, window_end=now)])
    service = SteeringService(
        SteeringConfig(PolicyConfig(CDNS, explore_rate=0.0), ttl_s=7), board, rng=random.Random(0)
    )
    app = FastAPI()
    app.state.steering = service
    app.include_router(steering_router())
    running = serve_asgi("client-test", app, "127.0.0.1", free_port())
    for _ in range(40):
        try:
            httpx.get(f"{running.url}/v1/steering/decision", timeout=1)
            break
        except httpx.HTTPError:
            asyncio.run(asyncio.sleep(0.1))
    yield service, running
    running.stop()


def test_a_view_follows_the_manifest_and_its_ttl(server: tuple[SteeringService, ThreadedServer]) -> None:
    service, running = server
    asked_before = service.stats.requests

    async def scenario() -> list[tuple[tuple[str, ...], float | None]]:
        chooser = HttpSteeringChooser(running.url, record=True)
        answers = [chooser.choose(_request("start"))]
        for _ in range(40):
            await asyncio.sleep(0.05)
            if chooser.stats.seen:
                break
        answers.append(chooser.choose(_request("reload", "cdn-a")))
        await chooser.close()
        assert chooser.stats.fetches == 1 and chooser.stats.failures == 0
        assert chooser.stats.seen[0].group_key == "NO/2119/mobile/live"
        return [(a.priority, a.ttl_ms) for a in answers]

    first, second = asyncio.run(scenario())
    assert first == (CDNS, FIRST_ANSWER_MS)  # the playlist's order until the manifest is in
    assert second == (("cdn-b", "cdn-a", "cdn-c"), 7000.0)
    assert service.stats.requests == asked_before + 1  # one manifest request, not one per choose()


def test_steering_switched_off_stops_the_view_steering(server: tuple[SteeringService, ThreadedServer]) -> None:
    service, running = server
    service.config = replace(service.config, enabled=False)

    async def scenario() -> tuple[tuple[str, ...], float | None]:
        chooser = HttpSteeringChooser(running.url)
        chooser.choose(_request("start"))
        for _ in range(40):
            await asyncio.sleep(0.05)
            if chooser.stats.stopped:
                break
        answer = chooser.choose(_request("reload", "cdn-a"))
        await chooser.close()
        return answer.priority, answer.ttl_ms

    assert asyncio.run(scenario()) == (CDNS, None)  # 410: keep the pathway, never ask again


def test_an_unreachable_server_keeps_the_last_answer() -> None:
    async def scenario() -> tuple[tuple[str, ...], int]:
        chooser = HttpSteeringChooser(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
        chooser.choose(_request("start"))
        for _ in range(40):
            await asyncio.sleep(0.05)
            if chooser.stats.failures:
                break
        answer = chooser.choose(_request("reload", "cdn-a"))
        await chooser.close()
        return answer.priority, chooser.stats.failures

    priority, failures = asyncio.run(scenario())
    assert priority == CDNS and failures == 1
