"""The ingest benchmark's baseline: a bare FastAPI endpoint that only parses the JSON body."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response


def create_baseline_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/beacons")
    async def parse_only(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(status_code=202)

    return app
