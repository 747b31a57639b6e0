"""The gateway: every /v1 API on one port. Routes ingest does not serve go to the warehouse-side API.

chDB allows one process per data directory, so the APIs that read the warehouse live in the
process that owns it; the gateway forwards to them over loopback, like an API gateway would.

Only an explicit allow-list of (method, path template) pairs is forwarded: the composition root
builds it from the routers the warehouse API serves (``qoe.api.warehouse_routes``), since ingest
may not import the warehouse. Anything else is answered here, 404 or 405, without a request
upstream; a body past ``max_body_bytes`` is answered 413 before it is read to the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.routing import compile_path

from foundation.http import OrjsonResponse, problem

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Route = tuple[str, str]  # (method, path template such as /v1/views/{view_id})


class AllowList:
    """The (method, path template) pairs the gateway forwards."""

    def __init__(self, routes: Iterable[Route]) -> None:
        templates: dict[str, set[str]] = {}
        for method, path in routes:
            templates.setdefault(path, set()).add(method.upper())
        self._routes = [(compile_path(path)[0], methods) for path, methods in sorted(templates.items())]

    def methods_for(self, path: str) -> set[str]:
        """The methods forwarded for ``path``; empty when no template matches it."""
        allowed: set[str] = set()
        for pattern, methods in self._routes:
            if pattern.match(path):
                allowed |= methods
        return allowed


class BodyTooLargeError(Exception):
    pass


async def _capped_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLargeError(f"body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _served_here(request: Request) -> set[str]:
    """The methods the gateway's own routes serve at this path, as its OpenAPI documents them: a
    request reaching the proxy with another method gets 405 and their Allow, not a 404."""
    paths: dict[str, dict[str, Any]] = request.app.openapi()["paths"]
    own = AllowList((method, path) for path, operations in paths.items() for method in operations)
    return own.methods_for(request.url.path)


def proxy_router(upstream: str, client: httpx.AsyncClient, routes: Iterable[Route], max_body_bytes: int) -> APIRouter:
    router = APIRouter()
    allowed = AllowList(routes)

    @router.api_route("/v1/{path:path}", methods=_METHODS, include_in_schema=False)
    async def forward(path: str, request: Request) -> Response:
        methods = allowed.methods_for(request.url.path)
        if request.method not in methods:
            methods |= _served_here(request)
        if not methods:
            return problem(404, f"no route {request.url.path}")
        if request.method not in methods:
            allow = ", ".join(sorted(methods))
            return problem(405, f"{request.method} is not allowed here; allowed: {allow}", {"Allow": allow})
        try:
            body = await _capped_body(request, max_body_bytes)
        except BodyTooLargeError as exc:
            return problem(413, str(exc))
        # Encoded again: decoded, a path may hold characters (%04) that are no valid URL.
        return await _forward(client, upstream, request, quote(f"/v1/{path}"), body)

    return router


async def _forward(client: httpx.AsyncClient, upstream: str, request: Request, path: str, body: bytes) -> Response:
    # As received, in bytes: a value past ASCII, decoded as latin-1, is not one httpx sends again.
    headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _HOP_BY_HOP]
    try:
        upstream_response = await client.request(
            request.method, f"{upstream}{path}", params=request.query_params, content=body, headers=headers
        )
    except httpx.HTTPError as exc:
        return OrjsonResponse(
            {"detail": f"the warehouse API at {upstream} is unavailable: {type(exc).__name__}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    out_headers = {k: v for k, v in upstream_response.headers.items() if k.lower() not in _HOP_BY_HOP}
    out_headers.pop("content-encoding", None)
    return Response(upstream_response.content, status_code=upstream_response.status_code, headers=out_headers)
