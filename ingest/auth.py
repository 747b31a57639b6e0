"""Access tokens on the gateway: every route but the public ones needs a read token.

Public, without credentials: what players and browsers fetch (the beacon and CMCD posts and
their preflights, the steering manifests, the demo's page, SDK and media), ``/healthz``, and the
API's description (``/docs``, ``/redoc``, ``/openapi.json``). Everything else (the steering
decision, scores and groups, ``/metrics``, every read the gateway forwards) needs a token with
the read scope; the warehouse API checks the admin scope of the admin routes it is forwarded.

Ingest may not read the warehouse, so the gateway asks the warehouse API who a token is
(``GET /v1/auth/whoami``) and keeps each answer ``ttl_s`` (2 s): a revoked token fails here at
most that long after the warehouse API stops accepting it. A request refused by the warehouse
API's answer (401) is remembered too, so a flood of one bad token costs one upstream call per
``ttl_s``; the per-address rate limit, ahead of this check, bounds floods of distinct ones.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.access import (
    AccessDeniedError,
    Principal,
    TokenStoreUnavailableError,
    presented_token,
    require,
    unauthorized,
)
from foundation.access import Scope as TokenScope
from foundation.http import problem
from ingest.cors import INGEST_PATHS
from ingest.limits import DEMO_PREFIXES, RateLimiter, Rule, rule_for

WHOAMI_PATH = "/v1/auth/whoami"
PUBLIC_PATHS = frozenset(
    {
        *INGEST_PATHS,
        "/v1/steering/hls",
        "/v1/steering/dash",
        "/healthz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)
MAX_ANSWERS = 10_000


def is_public(path: str) -> bool:
    """Whether ``path`` is served without credentials."""
    return path in PUBLIC_PATHS or path.startswith(DEMO_PREFIXES)


@dataclass(frozen=True)
class _Answer:
    expires_at: float
    principal: Principal | None
    refusal: str = ""


class WhoAmI:
    """Asks the warehouse API who a token is, and remembers the answer for ``ttl_s``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        upstream: str,
        *,
        ttl_s: float = 2.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = f"{upstream}{WHOAMI_PATH}"
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._answers: dict[bytes, _Answer] = {}

    async def principal(self, authorization: str | None) -> Principal:
        """The token's principal; AccessDeniedError(401) when it is not a valid token,
        TokenStoreUnavailableError when the warehouse API cannot say."""
        token = str(presented_token(authorization))  # a malformed header is refused here, without a request upstream
        key = hashlib.sha256(token.encode()).digest()  # the cache holds no secret
        now = self._clock()
        answer = self._answers.get(key)
        if answer is None or answer.expires_at <= now:
            answer = await self._ask(f"Bearer {token}", now + self._ttl_s)
            self._remember(key, answer, now)
        if answer.principal is None:
            raise unauthorized(answer.refusal)
        return answer.principal

    async def _ask(self, authorization: str, expires_at: float) -> _Answer:
        try:
            response = await self._client.get(
                self._url, headers={"Authorization": authorization}, timeout=self._timeout_s
            )
        except httpx.HTTPError as exc:
            raise TokenStoreUnavailableError(f"the token cannot be checked now: {type(exc).__name__}") from exc
        if response.status_code == 200:
            return _Answer(expires_at, Principal.from_json(response.json()))
        if response.status_code == 401:
            return _Answer(expires_at, None, str(response.json().get("detail", "invalid token")))
        raise TokenStoreUnavailableError(f"the token cannot be checked now: the API answered {response.status_code}")

    def _remember(self, key: bytes, answer: _Answer, now: float) -> None:
        if len(self._answers) >= MAX_ANSWERS:
            self._answers = {k: a for k, a in self._answers.items() if a.expires_at > now}
            if len(self._answers) >= MAX_ANSWERS:  # all fresh: a flood of distinct tokens; forget them
                self._answers.clear()
        self._answers[key] = answer


class TokenRequired:
    """ASGI: answers 401/403 ahead of ``app`` for a non-public request without a read token, and
    counts each token's requests against its own budget (``rate_limit_per_token``)."""

    def __init__(self, app: ASGIApp, whoami: WhoAmI, limiter: RateLimiter, retry_after_s: int = 5) -> None:
        self.app = app
        self.whoami = whoami
        self.limiter = limiter
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = require(await self.whoami.principal(Headers(scope=scope).get("authorization")), TokenScope.READ)
        except AccessDeniedError as exc:
            await problem(exc.status, exc.reason, exc.headers)(scope, receive, send)
            return
        except TokenStoreUnavailableError as exc:
            await problem(503, str(exc), {"Retry-After": str(self.retry_after_s)})(scope, receive, send)
            return
        # Scrapers are never turned away, and the delivery routes (steering decision, scores, groups)
        # keep the players' per-address budget: an edge fleet polls every group with one token.
        if rule_for(scope["path"]) is Rule.API:
            denial = await self.limiter.admit(Rule.TOKEN, f"key:{principal.token_id}", scope["path"])
            if denial is not None:
                await denial.answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
