"""Delivering beacons over HTTP: one shared sender with bounded concurrency and polite retries.

What each answer of ``POST /v1/beacons`` means to the sender:

- 2xx: stored.
- 400, 422 and other 4xx: the beacon itself is wrong; retrying cannot help, so drop and count it.
- 413: too large; split the batch in halves and send each (a single event that is still too
  large is dropped).
- 410: the server wants no more data from us; stop reporting (CMCD v2 and HLS steering use the
  same signal).
- 429, 503: come back later; wait ``Retry-After`` (seconds or an HTTP date) and hold every view's
  flushes until then, so the server gets room rather than a retry storm.
- other 5xx, 408, network errors: retry with exponential backoff and full jitter.

The sender never raises into the caller: outcomes are counted in :class:`SenderStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from enum import Enum
from types import TracebackType
from typing import Any, Protocol

import httpx

from qoe_sdk.beacon import BeaconJob
from qoe_sdk.tracker import Clock, system_clock_ms

log = logging.getLogger(__name__)

BEACON_PATH = "/v1/beacons"


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int
    retry_after: str | None = None


class TransportError(Exception):
    """The request did not get an HTTP answer (connection refused, reset, timeout)."""


class Poster(Protocol):
    """The HTTP client under the sender: one POST, its status and its Retry-After header."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult: ...

    async def aclose(self) -> None: ...


class HttpxPoster:
    """httpx's async client. Pass ``transport=httpx.MockTransport(...)`` to fake the server in tests."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout_s: float = 10.0,
        max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = client or httpx.AsyncClient(timeout=timeout_s, limits=limits, transport=transport)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return PostResult(response.status_code, response.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpPoster:
    """aiohttp's client: about 7× cheaper per request than httpx here (see bench.simulator).

    The simulator uses it to send thousands of viewers' beacons from one core.
    """

    def __init__(self, *, timeout_s: float = 10.0, max_connections: int = 32) -> None:
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._session: Any = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            timeout = aiohttp.ClientTimeout(total=self._timeout_s)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        try:
            async with self._session.post(url, data=body, headers=dict(headers)) as response:
                await response.read()
                return PostResult(response.status, response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 600.0  # a longer Retry-After is capped: we may come back sooner

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter (uniform over [0, min(cap, base·2^(attempt-1))])."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, now_ms: int) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_ms / 1000)


class Outcome(Enum):
    SENT = "sent"
    REJECTED = "rejected"
    SPLIT = "split"
    STOP = "stop"
    RETRY = "retry"
    RETRY_LATER = "retry_later"


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SENT
    if status == 410:
        return Outcome.STOP
    if status == 413:
        return Outcome.SPLIT
    if status in (429, 503):
        return Outcome.RETRY_LATER
    if status in (408, 425) or status >= 500:
        return Outcome.RETRY
    return Outcome.REJECTED


@dataclass(slots=True)
class SenderStats:
    beacons_submitted: int = 0
    beacons_sent: int = 0
    events_sent: int = 0
    bytes_sent: int = 0
    requests: int = 0
    beacons_rejected: int = 0  # 4xx: the beacon is wrong, not retried
    events_rejected: int = 0
    beacons_split: int = 0  # 413
    retries: int = 0
    throttled: int = 0  # 429 / 503 answers
    network_errors: int = 0
    beacons_dropped: int = 0  # retries exhausted, backlog full, or stopped
    events_dropped: int = 0
    internal_errors: int = 0
    stopped: bool = False  # 410
    last_error: str = ""


Sleep = Callable[[float], Awaitable[None]]


class AsyncSender:
    """The process's one beacon sender: a backlog served by ``max_concurrency`` workers.

    ``submit`` only appends to the backlog, so a player (or thousands of simulated ones) never
    waits on the network. ``clock``, ``sleep`` and ``rng`` are injectable so retry timing can be
    tested without waiting.
    """

    def __init__(
        self,
        base_url: str,
        *,
        poster: Poster | None = None,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        max_backlog: int = 20_000,
        gzip_min_bytes: int | None = 8_192,
        clock: Clock = system_clock_ms,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.url = base_url.rstrip("/") + BEACON_PATH
        self._poster: Poster = poster or HttpxPoster(max_connections=max_concurrency)
        self._concurrency = max_concurrency
        self._retry = retry or RetryPolicy()
        self._max_backlog = max_backlog
        self._gzip_min_bytes = gzip_min_bytes
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._backlog: deque[BeaconJob] = deque()
        # One release per queued beacon wakes exactly one worker (an Event would wake them all).
        self._ready = asyncio.Semaphore(0)
        self._idle_event = asyncio.Event()
        self._idle_event.set()
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._hold_until_ms = 0
        self.stats = SenderStats()

    # --- the sink interface the views use ---------------------------------------------
    @property
    def stopped(self) -> bool:
        return self.stats.stopped

    def accepting(self, now_ms: int) -> bool:
        return not self.stats.stopped and now_ms >= self._hold_until_ms

    def submit(self, job: BeaconJob) -> None:
        if self.stats.stopped:
            self._drop(job)
            return
        self.stats.beacons_submitted += 1
        self._idle_event.clear()
        if len(self._backlog) >= self._max_backlog:
            self._drop(self._backlog.popleft())  # the oldest is the least useful to a live dashboard
            self._backlog.append(job)  # same length: no new release
            return
        self._backlog.append(job)
        self._ready.release()

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    @property
    def idle(self) -> bool:
        return not self._backlog and self._in_flight == 0

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"beacon-{i}") for i in range(self._concurrency)]

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every submitted beacon was answered (or dropped); False on timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle_event.wait(), timeout_s)
        return self.idle

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``timeout_s``), then stop the workers and the client."""
        if self._workers:
            await self.drain(timeout_s)
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        for job in self._backlog:
            self._drop(job)
        self._backlog.clear()
        await self._poster.aclose()

    async def __aenter__(self) -> AsyncSender:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- delivery -----------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            await self._ready.acquire()
            if not self._backlog:
                continue  # the backlog was cleared (410) after this beacon was counted
            job = self._backlog.popleft()
            self._in_flight += 1
            try:
                await self._deliver(job)
            except asyncio.CancelledError:
                self._drop(job)
                raise
            except Exception as exc:  # a bug here must not kill the worker or reach the player
                log.exception("beacon delivery failed")
                self.stats.internal_errors += 1
                self.stats.last_error = repr(exc)
                self._drop(job)
            finally:
                self._in_flight -= 1
                if self.idle:
                    self._idle_event.set()

    async def _deliver(self, job: BeaconJob) -> None:
        while True:
            if self.stats.stopped:
                self._drop(job)
                return
            await self._wait_for_hold()
            delay_s = await self._attempt(job)
            if delay_s is None:
                return
            job.attempts += 1
            if job.attempts >= self._retry.max_attempts:
                self.stats.last_error = f"gave up after {job.attempts} attempts"
                self._drop(job)
                return
            self.stats.retries += 1
            await self._sleep(delay_s)

    async def _attempt(self, job: BeaconJob) -> float | None:
        """Send once; None when the beacon is settled, else the seconds to wait before retrying."""
        body, headers = self._encode(job)
        self.stats.requests += 1
        try:
            result = await self._poster.post(self.url, body, headers)
        except TransportError as exc:
            self.stats.network_errors += 1
            self.stats.last_error = str(exc)
            return self._retry.backoff_s(job.attempts + 1, self._rng)
        outcome = classify(result.status)
        if outcome is Outcome.SENT:
            self.stats.beacons_sent += 1
            self.stats.events_sent += len(job.events)
            self.stats.bytes_sent += len(body)
            return None
        self.stats.last_error = f"HTTP {result.status}"
        if outcome is Outcome.REJECTED:
            self.stats.beacons_rejected += 1
            self.stats.events_rejected += len(job.events)
            return None
        if outcome is Outcome.STOP:
            self._stop()
            self._drop(job)
            return None
        if outcome is Outcome.SPLIT:
            self._split(job)
            return None
        if outcome is Outcome.RETRY_LATER:
            return self._throttled(result, job)
        return self._retry.backoff_s(job.attempts + 1, self._rng)

    def _throttled(self, result: PostResult, job: BeaconJob) -> float:
        self.stats.throttled += 1
        now = self._clock()
        wait_s = parse_retry_after(result.retry_after, now)
        if wait_s is None:
            wait_s = self._retry.backoff_s(job.attempts + 1, self._rng)
        wait_s = min(wait_s, self._retry.max_retry_after_s)
        self._hold_until_ms = max(self._hold_until_ms, now + int(wait_s * 1000))
        return wait_s

    async def _wait_for_hold(self) -> None:
        now = self._clock()
        if now < self._hold_until_ms:
            await self._sleep((self._hold_until_ms - now) / 1000)

    def _split(self, job: BeaconJob) -> None:
        if len(job.events) < 2:
            self.stats.beacons_rejected += 1
            self.stats.events_rejected += len(job.events)
            return
        self.stats.beacons_split += 1
        first, second = job.split()
        # Front of the backlog, in order: the halves are older than anything queued since.
        self._backlog.appendleft(second)
        self._backlog.appendleft(first)
        self._idle_event.clear()
        self._ready.release()
        self._ready.release()

    def _encode(self, job: BeaconJob) -> tuple[bytes, dict[str, str]]:
        body = job.body(self._clock())
        if self._gzip_min_bytes is not None and len(body) >= self._gzip_min_bytes:
            return gzip.compress(body, compresslevel=5, mtime=0), {**self._headers, "content-encoding": "gzip"}
        return body, self._headers

    def _stop(self) -> None:
        self.stats.stopped = True
        for queued in self._backlog:
            self._drop(queued)
        self._backlog.clear()

    def _drop(self, job: BeaconJob) -> None:
        self.stats.beacons_dropped += 1
        self.stats.events_dropped += len(job.events)
