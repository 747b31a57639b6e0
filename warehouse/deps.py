"""FastAPI dependency aliases of the warehouse-side API."""

from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import Depends, Request

from foundation.access import AccessDeniedError, Principal
from foundation.settings import Settings


async def get_warehouse(request: Request) -> Client:
    client: Client = request.app.state.warehouse
    return client


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def bound_property(request: Request) -> str:
    """The one property the request's token reads (tenancy); empty: every property.

    The token guard (``warehouse.access_api.token_guard``) keeps the verified principal on the
    request. Routers served without a guard (a benchmark's) read every property.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.property_id if principal is not None else ""


def read_property(bound: str, asked: str | None) -> str | None:
    """The property a read is filtered by: the one asked for (None: every property), and for a
    token bound to a property always its own; asking for another is refused (403)."""
    if not bound:
        return asked
    if asked is not None and asked != bound:
        raise AccessDeniedError(403, f"this token reads property {bound} only, not {asked}")
    return bound


WarehouseDep = Annotated[Client, Depends(get_warehouse)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BoundPropertyDep = Annotated[str, Depends(bound_property)]
