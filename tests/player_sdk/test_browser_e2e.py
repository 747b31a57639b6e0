"""Real playback, end to end: headless Chromium plays a real HLS ladder with hls.js, and what the
player reports goes through the real stack (gateway → Tansu → Faust → chDB).

- With our SDK: startup time, watch time and rendition switches in the warehouse match what
  hls.js and the element did (their events, collected in the page, are the ground truth).
- With the origin throttled mid-play and a small forward buffer: stalls and down-switches.
- Without our SDK, hls.js's own CMCD v2 event mode posting to ``/v1/cmcd``: still a view.
- The gateway's ``/demo/``: a person's own view reaches the warehouse.

Figures come from the sessionizer's ``GET /v1/views/{id}`` (``VIEW_SOURCE = "views"``), once it
has folded every stored event; ``VIEW_SOURCE = "events"`` derives the same figures here from the
raw ``GET /v1/events?view_id=`` (``ViewFigures.from_events``), which both paths also read for
the renditions and the request events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import httpx
import pytest

from foundation.stack import LocalStack
from ingest.media import Ladder, MediaError, build_hls_ladder
from tests.factories.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LocalOrigin,
    ViewFigures,
    copy_ladder,
    fold,
    media_origin,
    player_site,
    require_browser,
    truth_stalls,
    truth_switches,
)
from tests.factories.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.integration, pytest.mark.browser]

VIEW_SOURCE: Literal["events", "views"] = "views"


@pytest.fixture(scope="session")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    """The default Big Buck Bunny ladder (four rungs, 20 s), built once per test session."""
    require_browser()
    try:
        return build_hls_ladder(tmp_path_factory.mktemp("e2e-media") / "bbb")
    except MediaError as exc:
        if "not found" in str(exc) or "not installed" in str(exc):
            pytest.skip(str(exc))
        raise


@pytest.fixture(scope="module")
def stack(ladder: Ladder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("e2e-stack") / "qoe"
    copy_ladder(ladder.directory, data_dir)  # the gateway's /demo finds it built
    with LocalStack(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site() -> Iterator[LocalOrigin]:
    with player_site() as origin:
        yield origin


@pytest.fixture
def cdn(ladder: Ladder) -> Iterator[LocalOrigin]:
    with media_origin(ladder.directory, cdn="cdn-local-a") as origin:
        yield origin


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def open_player(page: Page, site: LocalOrigin, cdn: LocalOrigin, **params: str) -> None:
    query = httpx.QueryParams({"src": f"{cdn.url}/master.m3u8", **params})
    page.goto(f"{site.url}/player.html?{query}")
    page.wait_for_function("window.truth && window.truth.ready", timeout=10_000)


def truth(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate("window.truth")
    return found


def played_s(page: Page) -> float:
    return float(page.evaluate("document.getElementById('video').currentTime"))


def view_events(stack: LocalStack, view_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.internal_api}/v1/events", params={"view_id": view_id}, headers=stack.auth_headers, timeout=10
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def arrived(stack: LocalStack, view_id: str, *types: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The view's events once every one of ``types`` is in the warehouse."""
    rows: list[dict[str, Any]] = []

    def complete() -> bool:
        nonlocal rows
        rows = view_events(stack, view_id)
        return set(types) <= {row["type"] for row in rows}

    wait_for(complete, timeout_s, f"{', '.join(types)} of view {view_id} in the warehouse")
    return rows


def figures(stack: LocalStack, view_id: str) -> ViewFigures:
    """The view's figures once every event stored so far is folded into them."""
    rows = view_events(stack, view_id)
    if VIEW_SOURCE == "events":
        return ViewFigures.from_events(rows)
    newest = max(int(row["seq"]) for row in rows)
    view: dict[str, Any] = {}

    def sessionized() -> bool:
        nonlocal view
        response = httpx.get(f"{stack.internal_api}/v1/views/{view_id}", headers=stack.auth_headers, timeout=10)
        view = response.json()["view"] if response.status_code == 200 else {}
        return bool(view) and int(view["max_seq"]) >= newest

    wait_for(sessionized, 30, f"the sessionizer to fold view {view_id} up to seq {newest}")
    return ViewFigures.from_view(view, rows)


def play_until(page: Page, seconds: float, timeout_s: float) -> None:
    page.wait_for_function(
        f"document.getElementById('video').currentTime >= {seconds}", timeout=timeout_s * 1000, polling=100
    )


def test_a_played_view_matches_what_hls_js_did(
    stack: LocalStack, site: LocalOrigin, cdn: LocalOrigin, page: Page
) -> None:
    open_player(page, site, cdn, endpoint=stack.gateway)
    play_until(page, 8.0, timeout_s=30)
    played_ms = played_s(page) * 1000
    page.evaluate("window.endView()")
    seen = truth(page)
    view_id = seen["viewId"]
    arrived(stack, view_id, "playback_start", "view_end")
    view = figures(stack, view_id)

    startup_truth = seen["firstFrameAt"] - seen["playAt"]
    assert view.played and view.vst_ms is not None
    assert 0 < view.vst_ms < 5_000, "a local origin starts within seconds"
    assert abs(view.vst_ms - startup_truth) < 500, (view.vst_ms, startup_truth)
    assert abs(view.watch_ms - played_ms) <= 0.10 * played_ms, (view.watch_ms, played_ms)
    sequence, ups, downs = truth_switches(seen["switches"], since_ms=seen["firstFrameAt"])
    assert len(seen["switches"]) >= 1
    assert view.bitrates[-len(sequence) :] == tuple(sequence), (view.bitrates, sequence)
    assert (view.upswitches, view.downswitches) == (ups, downs)
    assert view.stall_count == 0, "nothing throttled, nothing stalled"
    # The SDK learns the CDN from the X-CDN header of the first response, read across origins; the
    # beacon sent at play intent may leave before it. (The sessionizer names a view's CDN from the
    # first beacon, so view.cdn is empty when that beacon was first: not asserted here.)
    cdns = {row["cdn"] for row in view_events(stack, view_id)}
    assert "cdn-local-a" in cdns and cdns <= {"", "cdn-local-a"}, cdns
    assert not seen["sdkErrors"] and not [e for e in seen["errors"] if e.startswith("FATAL")]


def test_a_throttled_origin_shows_as_stalls_and_down_switches(
    stack: LocalStack, site: LocalOrigin, cdn: LocalOrigin, page: Page
) -> None:
    open_player(page, site, cdn, endpoint=stack.gateway, buffer="4")
    page.wait_for_function(
        "window.truth.switches.some(s => s.level >= 2) && document.getElementById('video').currentTime >= 3",
        timeout=30_000,
        polling=100,
    )
    cdn.throttle(kbps=250, delay_ms=150)  # below the lowest rung (~660 kbps with audio)
    page.wait_for_function(
        """(() => { const t = window.truth; const last = t.switches[t.switches.length - 1];
                    return t.waiting.some(w => w > t.firstFrameAt) && last.level < 2; })()""",
        timeout=45_000,
        polling=200,
    )
    cdn.throttle(None)
    resumed_at = played_s(page)
    play_until(page, resumed_at + 1.0, timeout_s=20)
    page.evaluate("window.endView()")
    seen = truth(page)
    view_id = seen["viewId"]
    arrived(stack, view_id, "stall_start", "stall_end", "view_end")
    view = figures(stack, view_id)

    stalls = truth_stalls(seen, until_ms=time.time() * 1000)
    _, _, downs = truth_switches(seen["switches"], since_ms=seen["firstFrameAt"])
    assert stalls, "the throttle made the element wait"
    assert 1 <= view.stall_count <= len(stalls)
    assert abs(view.stall_ms - sum(stalls)) <= max(750.0, 0.25 * sum(stalls)), (view.stall_ms, stalls)
    assert downs >= 1
    assert view.downswitches == downs, (view.bitrates, seen["switches"])


def test_hls_js_cmcd_event_mode_alone_yields_a_view(
    stack: LocalStack, site: LocalOrigin, cdn: LocalOrigin, page: Page
) -> None:
    """No SDK on the page: hls.js 1.7.4's own CMCD v2 reports (cmcd.eventTargets) to /v1/cmcd."""
    sid = str(uuid.uuid4())
    open_player(page, site, cdn, cmcd=f"{stack.gateway}/v1/cmcd", sid=sid, title="bbb-cmcd")
    play_until(page, 4.0, timeout_s=30)
    page.evaluate("document.getElementById('video').pause()")
    time.sleep(1.0)
    page.evaluate("document.getElementById('video').play()")
    play_until(page, 7.0, timeout_s=20)
    page.evaluate("window.stopPlayer()")  # hls.destroy() flushes the CMCD reporter
    seen = truth(page)
    rows = arrived(stack, sid, "playback_request", "playback_start", "pause", "resume", "rendition_change")

    def segments(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r["attrs"] for r in found if r["type"] == "request_completed" and r["attrs"]["kind"] == "segment"]

    def count() -> bool:
        nonlocal rows
        rows = view_events(stack, sid)
        return len(segments(rows)) >= int(seen["fragments"])

    wait_for(count, 20, f"{seen['fragments']} segment request_completed events")
    view = figures(stack, sid)
    events = [row["attrs"] for row in rows]
    startup_truth = seen["playing"][0] - seen["playAt"]
    assert view.played and view.vst_ms is not None
    assert abs(view.vst_ms - startup_truth) < 500, (view.vst_ms, startup_truth)
    # CMCD's bc fires on LEVEL_SWITCHING (the decision), not LEVEL_SWITCHED (the playhead).
    assert list(view.bitrates) == fold([float(round(s["kbps"])) for s in seen["switching"]])  # CMCD rounds br
    completed = [e for e in events if e["type"] == "request_completed"]
    assert len(segments(rows)) == seen["fragments"], "one rr report per media segment hls.js loaded"
    assert {e["kind"] for e in completed} == {"init", "segment"}, "init segments are reported too"
    assert all(0 <= e["ttfb_ms"] <= e["duration_ms"] for e in completed)
    assert any(e["type"] == "heartbeat" for e in events)


def test_the_gateway_demo_page_reports_a_view(stack: LocalStack, page: Page) -> None:
    """What a person does under `qoe up`: open /demo/ on the gateway and play."""
    page.goto(f"{stack.gateway}/demo/?autoplay=1&heartbeat=2000")
    page.wait_for_function(
        "window.qoeDemo && window.qoeDemo.ready && window.qoeDemo.video.currentTime >= 3",
        timeout=30_000,
        polling=100,
    )
    assert page.url.startswith(f"{stack.gateway}/sdk/demo/")
    view_id = page.evaluate("window.qoeDemo.monitor.viewId")
    page.evaluate("window.qoeDemo.monitor.detach()")
    rows = arrived(stack, view_id, "playback_request", "playback_start", "view_end")
    assert {row["type"] for row in rows} >= {"rendition_change", "request_completed"}
    assert page.evaluate("window.qoeDemo.errors") == []


def test_media_is_served_with_its_types(stack: LocalStack) -> None:
    master = httpx.get(f"{stack.gateway}/media/bbb/master.m3u8", timeout=10)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "#EXT-X-STREAM-INF" in master.text
    hls = httpx.get(f"{stack.gateway}/sdk/node_modules/hls.js/dist/hls.mjs", timeout=10)
    assert hls.status_code == 200 and "javascript" in hls.headers["content-type"]
    assert httpx.get(f"{stack.gateway}/sdk/package.json", timeout=10).status_code == 404
