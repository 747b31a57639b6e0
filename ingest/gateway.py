"""The gateway: every /v1 API on one port. Routes ingest does not serve go to the warehouse-side API.

chDB allows one process per data directory, so the APIs that read the warehouse live in the
process that owns it; the gateway forwards to them over loopback, like an API gateway would.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from foundation.http import OrjsonResponse

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}


def proxy_router(upstream: str, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    @router.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "DELETE"], include_in_schema=False)
    async def forward(path: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream_response = await client.request(
                request.method,
                f"{upstream}/v1/{path}",
                params=request.query_params,
                content=await request.body(),
                headers=headers,
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

    return router
