"""The warehouse-side API: every /v1 route that reads the warehouse, served by its owning process."""

from __future__ import annotations

import logging

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from delivery.warehouse_api import delivery_warehouse_router
from foundation.access import Scope, TokenVerifier, parse_token
from foundation.errors import UsageError
from foundation.settings import Settings
from recommender import api as recommender_api
from recommender.privacy import retrain_after_erasure
from warehouse import api as events_api
from warehouse import app as warehouse_app
from warehouse.access import ensure_token, load_tokens
from warehouse.access_api import EveryProperty, access_router
from warehouse.privacy_api import privacy_router
from warehouse.properties_api import properties_router
from warehouse.stats import api as stats_api
from warehouse.users_api import users_router

log = logging.getLogger(__name__)

BOOTSTRAP_NAME = "bootstrap admin (QOE_ADMIN_TOKEN)"


def warehouse_routers() -> list[APIRouter]:
    return [
        events_api.router,
        stats_api.router,
        delivery_warehouse_router(),
        # A viewer's recommendations and their reasons come from every property they watched.
        _every_property(recommender_api.router),
        # Admin only (tag "admin"): erasing a viewer also retrains a model learnt from their views.
        privacy_router({"recommender": retrain_after_erasure}),
        access_router(),
        properties_router(),  # admin only (tag "admin"): properties and their public keys, for `qoe properties`
        users_router(),  # admin only (tag "admin"): the dashboards' users, for `qoe users`
    ]


def _every_property(router: APIRouter) -> APIRouter:
    """``router``'s routes, refused to tokens bound to a property (tenancy)."""
    guarded = APIRouter(dependencies=[EveryProperty])
    guarded.include_router(router)
    return guarded


def warehouse_routes() -> list[tuple[str, str]]:
    """The (method, path template) pairs the warehouse API documents: all the gateway forwards.

    Admin routes (tag ``admin``: erasure, training, token and property management) are forwarded
    too: the warehouse API refuses them without a token holding the admin scope.

    Read from the OpenAPI of an app with the routers (FastAPI keeps included routers nested), so
    a route hidden from the schema is not forwarded either.
    """
    app = FastAPI()
    for router in warehouse_routers():
        app.include_router(router)
    paths: dict[str, dict[str, object]] = app.openapi()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


def create_api(settings: Settings, client: Client, registry: CollectorRegistry | None = None) -> FastAPI:
    """The platform's warehouse API; every route but /healthz and the docs needs an access token."""
    register_admin_token(settings, client)
    tokens = TokenVerifier(lambda: load_tokens(client))
    return warehouse_app.create_api(settings, client, warehouse_routers(), registry, tokens)


def register_admin_token(settings: Settings, client: Client) -> None:
    """Register QOE_ADMIN_TOKEN as an admin token, once: a fresh deployment's first credential."""
    if settings.admin_token is None:
        return
    try:
        token = parse_token(settings.admin_token.get_secret_value())
        outcome = ensure_token(client, token, BOOTSTRAP_NAME, frozenset({Scope.ADMIN}), "QOE_ADMIN_TOKEN")
    except ValueError as exc:
        raise UsageError(f"QOE_ADMIN_TOKEN: {exc}") from None
    log.info("access: the admin token %s of QOE_ADMIN_TOKEN is %s", token.token_id, outcome)
