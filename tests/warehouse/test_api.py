"""The raw-event routes (warehouse/api.py) on the real engine: each answer is one their OpenAPI documents."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from foundation.settings import Settings
from tests.factories.openapi import assert_documented
from warehouse import api as events_api
from warehouse.app import create_api

pytestmark = pytest.mark.integration


def test_a_view_without_events_is_a_documented_404(settings: Settings, warehouse: Client) -> None:
    """The 404 was answered but undocumented: the OpenAPI listed only 200 and 422."""
    api = TestClient(create_api(settings, warehouse, [events_api.router]))
    answer = api.get("/v1/events", params={"view_id": "nobody"})
    assert answer.status_code == 404 and "nobody" in answer.json()["detail"]
    assert_documented(api.get("/openapi.json").json(), "GET", "/v1/events", answer)
