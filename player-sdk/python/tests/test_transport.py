from __future__ import annotations

import asyncio
import gzip
import random
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from qoe_sdk import (
    AiohttpPoster,
    AsyncSender,
    HttpxPoster,
    Reporter,
    RetryPolicy,
    ViewerIdentity,
    parse_retry_after,
)
from sdk_fakes import T0_MS, FakeTime, validate_json

Beacon = dict[str, Any]  # a payload the bundled beacon schema accepted

Handler = Callable[[httpx.Request], httpx.Response]


class FakeIngest:
    """Answers each request with the next scripted status (the last one repeats) and keeps the beacons."""

    def __init__(self, *answers: int | tuple[int, dict[str, str]]) -> None:
        self._answers: Iterator[int | tuple[int, dict[str, str]]] = iter(answers)
        self._last: int | tuple[int, dict[str, str]] = 202
        self.requests: list[httpx.Request] = []
        self.beacons: list[Beacon] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self._answers, self._last)
        self._last = answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        body = request.content
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        beacon = validate_json(body)
        if status == 202:
            self.beacons.append(beacon)
        return httpx.Response(status, headers=headers, json={"accepted_events": len(beacon["events"])})


def sender_for(ingest: Handler, time: FakeTime, **kwargs: Any) -> AsyncSender:
    poster = HttpxPoster(transport=httpx.MockTransport(ingest))
    return AsyncSender(
        "http://ingest.test/", poster=poster, clock=time.clock, sleep=time.sleep, rng=random.Random(1), **kwargs
    )


def view_with_events(reporter: Reporter, n: int) -> None:
    """A view of ``n`` >= 2 events in two beacons: the play intent alone, then the rest."""
    view = reporter.tracker(ViewerIdentity("viewer-1", 0.5)).start_view(title_id="t1")
    for i in range(n - 2):
        view.heartbeat(dropped_frames=i, playhead_ms=i * 1000)
    view.end()


def one_beacon(reporter: Reporter) -> None:
    reporter.tracker(ViewerIdentity("viewer-1", 0.5)).start_view(title_id="t1")


async def test_beacons_reach_the_server_as_valid_json() -> None:
    time, ingest = FakeTime(), FakeIngest()
    async with sender_for(ingest, time) as sender:
        view_with_events(Reporter(sender, clock=time.clock), 5)
        assert await sender.drain(5)
    assert [len(b["events"]) for b in ingest.beacons] == [1, 4]
    assert ingest.requests[0].url == "http://ingest.test/v1/beacons"
    assert ingest.requests[0].headers["content-type"] == "application/json"
    assert sender.stats.beacons_sent == 2 and sender.stats.events_sent == 5


async def test_large_bodies_are_gzipped() -> None:
    time, ingest = FakeTime(), FakeIngest()
    async with sender_for(ingest, time, gzip_min_bytes=1_000) as sender:
        view_with_events(Reporter(sender, clock=time.clock), 60)
        await sender.drain(5)
    encodings = [r.headers.get("content-encoding") for r in ingest.requests]
    assert encodings == [None, "gzip"]
    assert sum(len(b["events"]) for b in ingest.beacons) == 60


@pytest.mark.parametrize("status", [400, 422, 415, 401, 403])  # 401/403: no or an unknown property key
async def test_refused_beacons_are_not_retried(status: int) -> None:
    time, ingest = FakeTime(), FakeIngest(status)
    async with sender_for(ingest, time) as sender:
        one_beacon(Reporter(sender, clock=time.clock))
        await sender.drain(5)
    assert len(ingest.requests) == 1
    assert sender.stats.beacons_rejected == 1 and sender.stats.retries == 0 and time.sleeps == []


async def test_server_errors_are_retried_with_exponential_backoff_and_full_jitter() -> None:
    time, ingest = FakeTime(), FakeIngest(500, 502, 500, 202)
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=3.0)
    async with sender_for(ingest, time, retry=policy) as sender:
        one_beacon(Reporter(sender, clock=time.clock))
        await sender.drain(5)
    assert len(ingest.requests) == 4 and len(ingest.beacons) == 1
    assert len(time.sleeps) == 3
    for delay, ceiling in zip(time.sleeps, [1.0, 2.0, 3.0], strict=True):
        assert 0.0 <= delay <= ceiling
    assert len(set(time.sleeps)) == 3  # jittered, not a fixed ladder


def test_full_jitter_spreads_over_the_whole_window() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30.0)
    rng = random.Random(3)
    delays = [policy.backoff_s(4, rng) for _ in range(2000)]
    assert max(delays) <= 4.0 and min(delays) >= 0.0
    assert sum(delays) / len(delays) == pytest.approx(2.0, rel=0.05)
    assert max(policy.backoff_s(20, rng) for _ in range(100)) <= 30.0


async def test_network_errors_are_retried() -> None:
    time = FakeTime()
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(202, json={"accepted_events": 1})

    async with sender_for(flaky, time) as sender:
        one_beacon(Reporter(sender, clock=time.clock))
        await sender.drain(5)
    assert calls["n"] == 3
    assert sender.stats.network_errors == 2 and sender.stats.beacons_sent == 1


async def test_retry_after_is_respected_and_holds_every_view() -> None:
    time, ingest = FakeTime(), FakeIngest((429, {"Retry-After": "7"}), 202)
    async with sender_for(ingest, time) as sender:
        reporter = Reporter(sender, clock=time.clock)
        one_beacon(reporter)
        await sender.drain(5)
    assert time.sleeps == [7.0]
    assert sender.stats.throttled == 1 and len(ingest.beacons) == 1


async def test_views_keep_events_queued_while_the_server_asked_to_wait() -> None:
    time = FakeTime()
    ingest = FakeIngest((503, {"Retry-After": "30"}), 202)
    released = asyncio.Event()
    sleeping = asyncio.Event()
    waits: list[float] = []

    async def gated_sleep(seconds: float) -> None:
        waits.append(seconds)
        sleeping.set()
        await released.wait()

    poster = HttpxPoster(transport=httpx.MockTransport(ingest))
    async with AsyncSender("http://ingest.test", poster=poster, clock=time.clock, sleep=gated_sleep) as sender:
        reporter = Reporter(sender, clock=time.clock)
        view = reporter.tracker(ViewerIdentity("v", 0.5)).start_view()
        await asyncio.wait_for(sleeping.wait(), 5)
        assert waits == [30.0] and not sender.accepting(time.ms)
        view.error("E", fatal=True)
        assert view.pending_events == 1  # held, not sent into the storm
        time.advance(30_000)
        released.set()
        assert sender.accepting(time.ms)
        assert reporter.sweep() == 1
        await sender.drain(5)
    assert [b["batch_seq"] for b in ingest.beacons] == [0, 1]


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    assert parse_retry_after("120", now_ms) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now_ms) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now_ms) == 0.0
    assert parse_retry_after("soon", now_ms) is None
    assert parse_retry_after(None, now_ms) is None


async def test_413_splits_the_batch_until_it_fits_and_loses_nothing() -> None:
    time = FakeTime()
    received: list[Beacon] = []

    def small_bodies_only(request: httpx.Request) -> httpx.Response:
        beacon = validate_json(request.content)
        if len(beacon["events"]) > 3:
            return httpx.Response(413, json={"detail": "too large"})
        received.append(beacon)
        return httpx.Response(202, json={"accepted_events": len(beacon["events"])})

    sender = sender_for(small_bodies_only, time)
    reporter = Reporter(sender, clock=time.clock)
    view = reporter.tracker(ViewerIdentity("v", 0.5)).start_view()
    for i in range(10):
        view.heartbeat(playhead_ms=i)
    view.end()
    async with sender:
        await sender.drain(5)
    seqs = sorted(e["seq"] for b in received for e in b["events"])
    assert seqs == list(range(12))
    assert all(len(b["events"]) <= 3 for b in received)
    batch_seqs = [b["batch_seq"] for b in received]
    assert len(set(batch_seqs)) == len(batch_seqs)  # each half has its own batch_seq
    assert sender.stats.beacons_split >= 3


async def test_the_property_key_reaches_the_server_in_every_beacon_and_every_split_half() -> None:
    time = FakeTime()
    received: list[Beacon] = []

    def small_bodies_only(request: httpx.Request) -> httpx.Response:
        beacon = validate_json(request.content)
        if len(beacon["events"]) > 3:
            return httpx.Response(413, json={"detail": "too large"})
        received.append(beacon)
        return httpx.Response(202, json={"accepted_events": len(beacon["events"])})

    async with sender_for(small_bodies_only, time) as sender:
        key = "qoe_pk_0123456789abcdef01234567"
        view = Reporter(sender, clock=time.clock).tracker(ViewerIdentity("v", 0.5), property_key=key).start_view()
        for i in range(10):
            view.heartbeat(playhead_ms=i)
        view.end()
        await sender.drain(5)
    assert sender.stats.beacons_split >= 1
    assert sum(len(b["events"]) for b in received) == 12
    assert {b["property_key"] for b in received} == {key}


async def test_410_stops_reporting_for_every_view() -> None:
    time, ingest = FakeTime(), FakeIngest(410)
    async with sender_for(ingest, time) as sender:
        reporter = Reporter(sender, clock=time.clock)
        view = reporter.tracker(ViewerIdentity("v", 0.5)).start_view()
        await sender.drain(5)
        assert sender.stopped
        view.error("X", fatal=True)
        other = reporter.tracker(ViewerIdentity("w", 0.5)).start_view()
        other.end()
        await sender.drain(5)
    assert len(ingest.requests) == 1
    assert reporter.stats.events_discarded_stopped >= 2


async def test_retries_give_up_after_max_attempts_and_count_the_loss() -> None:
    time, ingest = FakeTime(), FakeIngest(500)
    async with sender_for(ingest, time, retry=RetryPolicy(max_attempts=3)) as sender:
        view_with_events(Reporter(sender, clock=time.clock), 4)
        await sender.drain(5)
    assert len(ingest.requests) == 6
    assert sender.stats.beacons_dropped == 2 and sender.stats.events_dropped == 4


async def test_a_full_backlog_drops_the_oldest_beacon() -> None:
    time, ingest = FakeTime(), FakeIngest()
    sender = sender_for(ingest, time, max_backlog=2)
    reporter = Reporter(sender, clock=time.clock)
    for viewer in ("a", "b", "c"):
        reporter.tracker(ViewerIdentity(viewer, 0.5)).start_view()
    async with sender:
        await sender.drain(5)
    assert [b["viewer_id"] for b in ingest.beacons] == ["b", "c"]
    assert sender.stats.beacons_dropped == 1


async def test_aiohttp_poster_delivers_to_a_real_http_server() -> None:
    received: list[Beacon] = []

    async def beacons(request: web.Request) -> web.Response:
        beacon = validate_json(await request.read())
        received.append(beacon)
        return web.json_response({"accepted_events": len(beacon["events"])}, status=202)

    app = web.Application()
    app.router.add_post("/v1/beacons", beacons)
    runner = web.AppRunner(app)
    await runner.setup()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    await web.SockSite(runner, listener).start()
    try:
        async with AsyncSender(f"http://127.0.0.1:{port}", poster=AiohttpPoster()) as sender:
            view_with_events(Reporter(sender), 10)
            assert await sender.drain(10)
    finally:
        await runner.cleanup()
    assert sum(len(b["events"]) for b in received) == 10
    assert sender.stats.beacons_sent == 2 and sender.stats.bytes_sent > 0


def test_payload_bytes_round_trip_through_orjson() -> None:
    time = FakeTime()
    ingest = FakeIngest()
    sender = sender_for(ingest, time)
    Reporter(sender, clock=time.clock).tracker(ViewerIdentity("v", 0.5)).start_view()
    job = sender._backlog[0]
    assert orjson.loads(job.body(T0_MS))["sent_at"] == T0_MS


async def test_the_reporter_context_sweeps_quiet_views_and_flushes_on_exit() -> None:
    time, ingest = FakeTime(), FakeIngest()
    async with sender_for(ingest, time) as sender:
        async with Reporter(sender, clock=time.clock, sweep_interval_s=0.01) as reporter:
            view = reporter.tracker(ViewerIdentity("v", 0.5)).start_view()
            view.pause(playhead_ms=1_000)  # then nothing: a paused player sends no heartbeats
            time.advance(10_000)
            for _ in range(100):
                if len(ingest.beacons) == 2:
                    break
                await asyncio.sleep(0.01)
            view.resume(playhead_ms=1_000)  # still queued when the block ends ...
        await sender.drain(5)  # ... and flushed by the reporter's exit
    assert [[e["type"] for e in b["events"]] for b in ingest.beacons] == [["playback_request"], ["pause"], ["resume"]]
