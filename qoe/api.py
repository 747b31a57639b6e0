"""The warehouse-side API: every /v1 route that reads the warehouse, served by its owning process."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from delivery.warehouse_api import delivery_warehouse_router
from qoe.http import OrjsonResponse
from qoe.settings import Settings
from recommender import api as recommender_api
from warehouse import api as events_api
from warehouse.stats import api as stats_api


def warehouse_routers() -> list[APIRouter]:
    return [events_api.router, stats_api.router, delivery_warehouse_router(), recommender_api.router]


def create_api(settings: Settings, client: Client, registry: CollectorRegistry | None = None) -> FastAPI:
    app = FastAPI(title="QoE platform warehouse API", version="1", default_response_class=OrjsonResponse)
    app.state.settings = settings
    app.state.warehouse = client
    app.state.registry = registry or CollectorRegistry()
    for router in warehouse_routers():
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> OrjsonResponse:
        client.query("SELECT 1")
        return OrjsonResponse({"status": "ok"})

    return app
