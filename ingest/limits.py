"""Rate limits of the gateway: requests per client identity, answered 429 with Retry-After.

The rules (settings ``rate_limit_*``; docs/security.md):

* ``beacons``: beacon and CMCD posts per identity, valid or not. Generous, because one address can
  be a carrier-grade NAT with thousands of players behind it.
* ``refused``: posts refused as bad input (400, 413, 415, 422). Players rarely send any. An
  identity past this budget gets 429 on every post until the window ends, *before* its body is
  read, validated or dead-lettered: a flood of invalid beacons then costs a counter lookup each,
  and other addresses' beacons keep flowing. The budget is kept per route, so bad CMCD reports
  do not shut out an address's beacons.
* ``players``: what players and delivery components fetch: the gateway's steering routes and the
  demo's page, SDK and media. As generous as beacons, for the same NATs; answered from memory.
* ``api``: every other route: the read APIs the gateway forwards (each a warehouse query), docs.
* ``token``: requests per access token to the routes that need one (``ingest.auth``), counted
  once the token is verified, so nobody can spend another token's budget by naming its id.

``/healthz`` and ``/metrics`` are never limited: probes and scrapers must not be turned away.

An identity is a string: ``ip:<address>``, or ``key:<token id>`` for the token rule.
:meth:`RateLimiter.identities` returns every address identity of a request; each is checked
against the same rule. The address
is the peer's, or, when the peer is a trusted proxy (``trusted_proxies``: the load balancer or
ingress), the client it names in ``X-Forwarded-For``: behind an ingress every request would
otherwise share the ingress's address and budget.

Counters are the ``limits`` library's sliding window counters, in this process's memory, or in
Redis when ``storage_url`` names one (gateway replicas then share them). A failing store lets
requests through: the limiter's own outage never turns good data away.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foundation.http import problem
from foundation.settings import Settings, default_of
from ingest.cors import INGEST_PATHS

log = logging.getLogger(__name__)

REFUSED_STATUSES = frozenset({400, 401, 403, 413, 415, 422})  # 401/403: a wrong property key
EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
# The gateway's own steering routes, answered from memory; /v1/steering/decisions and /priorities
# are warehouse reads it forwards (the api rule).
STEERING_PATHS = frozenset(f"/v1/steering/{name}" for name in ("hls", "dash", "decision", "scores", "groups"))
DEMO_PREFIXES = ("/demo", "/media/", "/sdk/")
STORE_WARNING_INTERVAL_S = 60.0
SHARED_SCHEMES = ("redis", "rediss", "redis+unix", "valkey", "valkeys")


class Rule(StrEnum):
    BEACONS = "beacons"
    REFUSED = "refused"
    PLAYERS = "players"
    API = "api"
    TOKEN = "token"  # applied by ingest.auth once a token is verified, never by path


def rule_for(path: str) -> Rule | None:
    """The rule a request path counts against; None for the routes never limited."""
    if path in INGEST_PATHS:
        return Rule.BEACONS
    if path in EXEMPT_PATHS:
        return None
    if path in STEERING_PATHS or path.startswith(DEMO_PREFIXES):
        return Rule.PLAYERS
    return Rule.API


Trusts = Callable[[str | None], bool]
CLIENT_ADDRESS = "qoe.client_address"


def _trusts_nobody(_: str | None) -> bool:
    return False


def client_address(scope: Scope, trusts: Trusts) -> str:
    """The peer's address; when the peer is a trusted proxy, the nearest address in its
    ``X-Forwarded-For`` that is not a trusted proxy itself (entries left of it could be forged).

    Resolved once per request: the rate limiter and the steering source stamp both ask, and every
    caller passes the same trusted networks (the settings' ``trusted_proxies``)."""
    state = scope.setdefault("state", {})
    address: str | None = state.get(CLIENT_ADDRESS)
    if address is None:
        address = state[CLIENT_ADDRESS] = _resolve_client_address(scope, trusts)
    return address


def _resolve_client_address(scope: Scope, trusts: Trusts) -> str:
    client = scope.get("client")
    peer: str = client[0] if client else "unknown"
    if not trusts(peer):
        return peer
    forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
    for address in reversed(",".join(forwarded).split(",")):
        address = address.strip()
        if address and not trusts(address):
            return address
    return peer


@dataclass(frozen=True)
class RateLimitConfig:
    """Rates in the ``limits`` notation (``2000/second``, ``100 per minute``); empty: no limit."""

    beacons: str = default_of("rate_limit_beacons")
    refused_beacons: str = default_of("rate_limit_refused_beacons")
    players: str = default_of("rate_limit_players")
    api: str = default_of("rate_limit_api")
    per_token: str = default_of("rate_limit_per_token")
    storage_url: str = default_of("rate_limit_storage_url")

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimitConfig:
        return cls(
            beacons=settings.rate_limit_beacons,
            refused_beacons=settings.rate_limit_refused_beacons,
            players=settings.rate_limit_players,
            api=settings.rate_limit_api,
            per_token=settings.rate_limit_per_token,
            storage_url=settings.rate_limit_storage_url,
        )

    def items(self) -> dict[Rule, RateLimitItem]:
        """Each limited rule's parsed rate; a bad rate fails here, at start, naming the rule."""
        rates = {
            Rule.BEACONS: self.beacons,
            Rule.REFUSED: self.refused_beacons,
            Rule.PLAYERS: self.players,
            Rule.API: self.api,
            Rule.TOKEN: self.per_token,
        }
        items = {}
        for rule, rate in rates.items():
            if rate.strip():
                try:
                    items[rule] = parse(rate)
                except ValueError as exc:
                    raise ValueError(f"rate limit {rule.value}: {rate!r} is not a rate such as 100/second") from exc
        return items


class Counters(Protocol):
    """Sliding window counters under string keys: in memory, or shared through Redis."""

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        """Count one under ``key``: False when that makes it exceed ``item``'s amount."""
        ...

    async def spent(self, item: RateLimitItem, key: str) -> bool:
        """Whether one more under ``key`` would exceed ``item``'s amount (without counting it)."""
        ...

    async def reset_at(self, item: RateLimitItem, key: str) -> float:
        """When one more under ``key`` would be let through (epoch seconds)."""
        ...


class MemoryCounters:
    """This process's counters: the sliding window counter, as the ``limits`` library defines it.

    Each key keeps its current fixed window's count and the previous one's; the previous count
    weighs by the share of it still inside the sliding window. So a steady flood is let through
    evenly, one at a time, not as a burst at every window start: refused beacons, the costly
    ones, would otherwise arrive together and stall the valid ones queued behind them.

    Written here, not the library's MemoryStorage: that cost 11 µs of CPU per beacon here (key
    building, locks, and an expiry thread started anew every 10 ms); this costs 1.5 µs. Ended
    windows are swept once a second, on a call, so memory stays proportional to recent clients.
    Nothing waits on I/O: the event loop runs it inline.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # key → [window number, previous count, current count, when it will count nothing]
        self._windows: dict[str, list[float]] = {}
        self._next_sweep = 0.0

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._current(item, key, now)
        if _weighted(item, window, now) + 1 > item.amount:
            return False
        window[2] += 1
        return True

    async def spent(self, item: RateLimitItem, key: str) -> bool:
        if key not in self._windows:  # most clients were never refused: keep no window for them
            return item.amount < 1
        now = self._clock()
        return _weighted(item, self._current(item, key, now), now) + 1 > item.amount

    async def reset_at(self, item: RateLimitItem, key: str) -> float:
        """When one more is let through: the weighted count falls by one within the current
        window, or the next window starts with the current count as the previous one."""
        now = self._clock()
        _, previous, current, _ = self._current(item, key, now)
        expiry = item.get_expiry()
        elapsed = now % expiry
        if current + 1 <= item.amount:
            wait = max(0.0, expiry * (1 - (item.amount - current - 1) / previous) - elapsed) if previous else 0.0
        else:
            wait = expiry - elapsed + max(0.0, expiry * (1 - (item.amount - 1) / current))
        return time.time() + wait

    def _current(self, item: RateLimitItem, key: str, now: float) -> list[float]:
        expiry = item.get_expiry()
        number = now // expiry
        window = self._windows.get(key)
        if window is None or window[0] < number - 1:
            window = self._windows[key] = [number, 0, 0, (number + 2) * expiry]
        elif window[0] == number - 1:
            window[:] = [number, window[2], 0, (number + 2) * expiry]
        return window

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + 1.0
        for key in [key for key, window in self._windows.items() if window[3] <= now]:
            del self._windows[key]


def _weighted(item: RateLimitItem, window: list[float], now: float) -> float:
    _, previous, current, _ = window
    expiry = item.get_expiry()
    return previous * (expiry - now % expiry) / expiry + current


class SharedCounters:
    """Counters in Redis, through the ``limits`` asyncio storage (redis-py's asyncio client), shared
    by every gateway replica. When Redis fails, requests are let through and ``failed`` is told:
    the limiter's own outage never turns good data away."""

    def __init__(self, url: str, failed: Callable[[StorageError], None]) -> None:
        storage = storage_from_string(f"async+{url}", implementation="redispy", wrap_exceptions=True)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._failed = failed

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        try:
            return await self._limiter.hit(item, key)
        except StorageError as exc:
            self._failed(exc)
            return True

    async def spent(self, item: RateLimitItem, key: str) -> bool:
        try:
            return not await self._limiter.test(item, key)
        except StorageError as exc:
            self._failed(exc)
            return False

    async def reset_at(self, item: RateLimitItem, key: str) -> float:
        try:
            return (await self._limiter.get_window_stats(item, key)).reset_time
        except StorageError as exc:
            self._failed(exc)
            return time.time()


def counters_for(storage_url: str, failed: Callable[[StorageError], None]) -> Counters:
    if not storage_url:
        return MemoryCounters()
    scheme = urlsplit(storage_url).scheme
    if scheme not in SHARED_SCHEMES:
        raise ValueError(f"rate limit storage {scheme}:// is not supported: use redis://host:port or rediss://")
    return SharedCounters(storage_url, failed)


_PREFIXES = {rule: f"{rule.value} " for rule in Rule}  # formatting the enum per request costs a microsecond


def _refused_key(identity: str, path: str) -> str:
    # Per route: bad CMCD reports do not shut out an address's beacons.
    return "refused " + identity + " " + path


@dataclass(frozen=True)
class Denial:
    rule: Rule
    retry_after_s: int

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        what = {Rule.REFUSED: "refused posts from this client", Rule.TOKEN: "requests with this access token"}
        reason = f"too many {what.get(self.rule, 'requests from this client')}; retry after {self.retry_after_s} s"
        response = problem(429, reason, headers={"Retry-After": str(self.retry_after_s)})
        await response(scope, receive, send)


class RateLimiter:
    """The gateway's rules over one set of counters."""

    def __init__(
        self,
        config: RateLimitConfig,
        counters: Counters | None = None,
        registry: CollectorRegistry | None = None,
        trusts: Trusts = _trusts_nobody,
    ) -> None:
        """``trusts``: whether an address is a trusted proxy, whose X-Forwarded-For names the client."""
        self._items = config.items()
        self._refused = self._items.get(Rule.REFUSED)
        self._trusts = lru_cache(maxsize=4096)(trusts)  # parsing the peer's address costs more than the rest
        registry = registry or CollectorRegistry()
        denied = Counter("qoe_gateway_rate_limited", "Requests answered 429, by rule.", ["rule"], registry=registry)
        self._denied = {rule: denied.labels(rule.value) for rule in Rule}
        self._failures = Counter(
            "qoe_gateway_rate_limit_errors", "Counter store failures (requests let through).", registry=registry
        )
        self._warned_at = -math.inf
        self._counters = counters if counters is not None else counters_for(config.storage_url, self._store_failed)

    def identities(self, scope: Scope) -> tuple[str, ...]:
        """Who a request counts against. A key identity (``key:<id>``) joins the address here."""
        return (f"ip:{client_address(scope, self._trusts)}",)

    async def admit(self, rule: Rule, identity: str, path: str) -> Denial | None:
        """Count one request of ``identity`` to ``path`` under ``rule``: a Denial when it is over a limit."""
        if rule is Rule.BEACONS and self._refused is not None:
            key = _refused_key(identity, path)
            if await self._counters.spent(self._refused, key):
                return await self._deny(Rule.REFUSED, key)
        item = self._items.get(rule)
        if item is not None:
            key = _PREFIXES[rule] + identity
            if not await self._counters.hit(item, key):
                return await self._deny(rule, key)
        return None

    async def refused(self, identity: str, path: str) -> None:
        """Count one post of ``identity`` to ``path`` refused as bad input."""
        if self._refused is not None:
            await self._counters.hit(self._refused, _refused_key(identity, path))

    async def _deny(self, rule: Rule, key: str) -> Denial:
        self._denied[rule].inc()
        reset_at = await self._counters.reset_at(self._items[rule], key)
        return Denial(rule, max(1, math.ceil(reset_at - time.time())))

    def _store_failed(self, exc: StorageError) -> None:
        self._failures.inc()
        if time.monotonic() - self._warned_at > STORE_WARNING_INTERVAL_S:  # not once per request
            self._warned_at = time.monotonic()
            log.warning("rate limit store failed (%s); letting requests through", exc.storage_error)


class RateLimited:
    """ASGI: answers 429 ahead of ``app`` for an identity over its limit, and counts the posts
    ``app`` refuses as bad input against the identity's refused budget."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = rule_for(scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        identities = self.limiter.identities(scope)
        for identity in identities:
            denial = await self.limiter.admit(rule, identity, scope["path"])
            if denial is not None:
                await denial.answer(scope, receive, send)
                return
        if rule is Rule.BEACONS:
            await self._counting_refusals(scope, receive, send, identities)
        else:
            await self.app(scope, receive, send)

    async def _counting_refusals(self, scope: Scope, receive: Receive, send: Send, identities: tuple[str, ...]) -> None:
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        if status in REFUSED_STATUSES:
            for identity in identities:
                await self.limiter.refused(identity, scope["path"])
