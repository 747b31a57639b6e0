"""The warehouse-side API app: the process that owns the warehouse serves the routers it is given.

Which routers make up the platform's API is the composition root's choice (``qoe.api``); a
benchmark serves just the one it measures.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from foundation.http import OrjsonResponse
from foundation.settings import Settings
from warehouse.client import ping


def create_api(
    settings: Settings, client: Client, routers: Sequence[APIRouter], registry: CollectorRegistry | None = None
) -> FastAPI:
    app = FastAPI(title="QoE platform warehouse API", version="1", default_response_class=OrjsonResponse)
    app.state.settings = settings
    app.state.warehouse = client
    app.state.registry = registry or CollectorRegistry()
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> OrjsonResponse:
        ping(client)
        return OrjsonResponse({"status": "ok"})

    return app
