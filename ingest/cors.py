"""CORS for the routes players post to from other origins, and for nothing else.

A page on ``https://video.example`` reporting to the platform's origin needs the preflight
answered (``application/json`` and ``application/cmcd`` are not CORS-safelisted content
types), and needs ``Retry-After`` exposed to honour a 503 (REFERENCE §4). The read APIs the
gateway forwards are not opened to other origins by this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

INGEST_PATHS = ("/v1/beacons", "/v1/cmcd")
DEFAULT_ALLOW_ORIGINS = ("*",)


def parse_origins(value: str) -> tuple[str, ...]:
    """``"*"`` or a comma-separated list of origins such as ``https://a.example, https://b.example``."""
    origins = tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
    return origins or DEFAULT_ALLOW_ORIGINS


class IngestCORS:
    """Starlette's CORS middleware, applied to the ingest paths only."""

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = DEFAULT_ALLOW_ORIGINS,
        paths: Iterable[str] = INGEST_PATHS,
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(allow_origins),
            allow_methods=["POST"],
            allow_headers=["Content-Type", "Content-Encoding"],
            expose_headers=["Retry-After"],
            max_age=86_400,  # one preflight a day per page origin, not one per beacon
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
