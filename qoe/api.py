"""The warehouse-side API: every /v1 route that reads the warehouse, served by its owning process."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from delivery.warehouse_api import delivery_warehouse_router
from foundation.settings import Settings
from recommender import api as recommender_api
from warehouse import api as events_api
from warehouse import app as warehouse_app
from warehouse.stats import api as stats_api


def warehouse_routers() -> list[APIRouter]:
    return [events_api.router, stats_api.router, delivery_warehouse_router(), recommender_api.router]


def create_api(settings: Settings, client: Client, registry: CollectorRegistry | None = None) -> FastAPI:
    return warehouse_app.create_api(settings, client, warehouse_routers(), registry)
