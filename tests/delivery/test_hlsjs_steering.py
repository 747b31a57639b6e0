"""A real player follows our steering: hls.js in headless Chromium switches pathway when we say so.

The multivariant playlist carries ``#EXT-X-CONTENT-STEERING`` pointing at our steering router
(the real ``steering_router`` over a :class:`SteeringService` whose board this test feeds), and
two local origins serve the same ladder as pathways ``cdn-a`` and ``cdn-b``. cdn-a leads; then
its figures collapse, our priority flips, and the player must move its segment requests to
cdn-b's origin and keep playing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from delivery.steering.api import steering_router
from delivery.steering.policy import PolicyConfig
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import InMemoryDecisionLog, SteeringConfig, SteeringService
from foundation.broker import free_port
from foundation.servers import ThreadedServer, serve_asgi
from ingest.media import Ladder, MediaError, build_hls_ladder, write_steering_playlist
from schemas.steering import GLOBAL, CdnScore
from tests.factories.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HLS_DIST,
    PLAYER_PAGE,
    LocalOrigin,
    require_browser,
)
from tests.factories.delivery import recording_origin
from tests.factories.waiting import wait_for, wait_for_answer

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TTL_S = 2  # hls.js re-reads the steering manifest this often


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    require_browser()
    try:
        return build_hls_ladder(tmp_path_factory.mktemp("steering-media") / "bbb")
    except MediaError as exc:
        if "not found" in str(exc) or "not installed" in str(exc):
            pytest.skip(str(exc))
        raise


def _figure(cdn: str, qoe: float) -> CdnScore:
    return CdnScore(cdn, GLOBAL, 500, 0.01, 900.0, 0.001, 3000.0, qoe, datetime.now(UTC), window_s=30)


@pytest.fixture
def steering() -> Iterator[tuple[SteeringService, ThreadedServer, InMemoryDecisionLog]]:
    policy = PolicyConfig(("cdn-a", "cdn-b"), explore_rate=0.0)
    decisions = InMemoryDecisionLog()
    service = SteeringService(
        SteeringConfig(policy, ttl_s=TTL_S), ScoreBoard(), decision_log=decisions, rng=random.Random(1)
    )
    service.board.put_all([_figure("cdn-a", 90.0), _figure("cdn-b", 80.0)])
    app = FastAPI()
    app.state.steering = service
    app.include_router(steering_router())
    server = serve_asgi("steering-test", app, "127.0.0.1", free_port())
    wait_for_answer(f"{server.url}/v1/steering/decision", 10)
    yield service, server, decisions
    server.stop()


def _segments(origin: Any, since: float = 0.0) -> int:
    """Media segment requests the origin got since ``since``."""
    return sum(1 for path, at in list(origin.requested) if path.endswith((".m4s", ".ts")) and at >= since)


def _current_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('video').currentTime"))


def test_hls_js_moves_to_the_pathway_we_put_first(
    ladder: Ladder,
    steering: tuple[SteeringService, ThreadedServer, InMemoryDecisionLog],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from playwright.sync_api import sync_playwright

    service, server, decisions = steering
    server_uri = f"{server.url}/v1/steering/hls?country=NO&device=desktop&stream_type=vod"
    with recording_origin(ladder.directory, "cdn-a") as cdn_a, recording_origin(ladder.directory, "cdn-b") as cdn_b:
        playlist = write_steering_playlist(
            ladder,
            tmp_path_factory.mktemp("steering-playlist") / "steer.m3u8",
            pathways={"cdn-a": f"{cdn_a.url}/", "cdn-b": f"{cdn_b.url}/"},
            server_uri=server_uri,
        )
        folders = {"/sdk/node_modules/hls.js/dist": HLS_DIST, "/list": playlist.parent}
        with LocalOrigin(folders, pages={"/player.html": PLAYER_PAGE}) as site, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.goto(f"{site.url}/player.html?src={site.url}/list/steer.m3u8&buffer=4")
                page.wait_for_function("window.truth && window.truth.ready", timeout=10_000)
                wait_for(lambda: _current_time(page) > 2 and _segments(cdn_a) >= 2, 30, "playback from cdn-a")
                assert _segments(cdn_b) == 0, "cdn-a leads: nothing should come from cdn-b yet"
                steered = service.stats.requests
                assert steered >= 1, "hls.js never asked our steering server"

                service.board.put_all([_figure("cdn-a", 40.0), _figure("cdn-b", 82.0)])  # cdn-a collapses
                flipped_at = time.time()
                wait_for(lambda: _segments(cdn_b, flipped_at) >= 2, 30, "segments from cdn-b after the flip")
                switched_at = time.time()
                position = _current_time(page)
                wait_for(lambda: _current_time(page) > position + 2, 20, "playback going on after the switch")

                truth: dict[str, Any] = page.evaluate("window.truth")
                assert not [e for e in truth["errors"] if e.startswith("FATAL")], truth["errors"]
                late_a = _segments(cdn_a, switched_at + TTL_S)
                assert late_a == 0, f"{late_a} segments still came from cdn-a after the switch"
                assert service.stats.requests > steered  # the player re-read the manifest every TTL
                assert any(r.reason_code == "emergency" and r.to_pathway == "cdn-b" for r in decisions.records)
            finally:
                browser.close()
