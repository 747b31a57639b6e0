"""FastAPI dependency aliases of the warehouse-side API."""

from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import Depends, Request

from foundation.settings import Settings


async def get_warehouse(request: Request) -> Client:
    client: Client = request.app.state.warehouse
    return client


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


WarehouseDep = Annotated[Client, Depends(get_warehouse)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
