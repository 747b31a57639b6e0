"""Access tokens for tests that call the platform's APIs: its warehouse API needs one on every route."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from pydantic import SecretStr

from foundation.access import new_token
from foundation.settings import Settings

# One per test session: the warehouse API registers it (an argon2 hash) once per database.
ADMIN = new_token()
ADMIN_HEADERS = ADMIN.bearer


def with_admin_token(settings: Settings) -> Settings:
    """``settings`` with QOE_ADMIN_TOKEN set to :data:`ADMIN`."""
    return settings.model_copy(update={"admin_token": SecretStr(str(ADMIN))})


def admin_api(settings: Settings, client: Client, **options: Any) -> TestClient:
    """The platform's warehouse API on ``client``, called with the admin token."""
    from qoe.api import create_api

    return TestClient(create_api(with_admin_token(settings), client), headers=ADMIN_HEADERS, **options)
