"""The warehouse-side API: every /v1 route that reads the warehouse, served by its owning process."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from delivery.warehouse_api import delivery_warehouse_router
from foundation.settings import Settings
from recommender import api as recommender_api
from recommender.privacy import retrain_after_erasure
from warehouse import api as events_api
from warehouse import app as warehouse_app
from warehouse.privacy_api import privacy_router
from warehouse.stats import api as stats_api

ADMIN_TAG = "admin"


def warehouse_routers() -> list[APIRouter]:
    return [
        events_api.router,
        stats_api.router,
        delivery_warehouse_router(),
        recommender_api.router,
        # Admin only (tag "admin"): erasing a viewer also retrains a model learnt from their views.
        privacy_router({"recommender": retrain_after_erasure}),
    ]


def warehouse_routes() -> list[tuple[str, str]]:
    """The (method, path template) pairs the warehouse API documents, but for its admin routes: all
    the gateway forwards.

    Admin routes (tag ``admin``: erasure, training) are reached on the internal API only, by
    operators and ``qoe`` commands, until access tokens with an admin scope exist (issue 12).

    Read from the OpenAPI of an app with the routers (FastAPI keeps included routers nested), so
    a route hidden from the schema is not forwarded either.
    """
    app = FastAPI()
    for router in warehouse_routers():
        app.include_router(router)
    paths: dict[str, dict[str, dict[str, object]]] = app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if ADMIN_TAG not in operation.get("tags", [])  # type: ignore[operator]
    )


def create_api(settings: Settings, client: Client, registry: CollectorRegistry | None = None) -> FastAPI:
    return warehouse_app.create_api(settings, client, warehouse_routers(), registry)
