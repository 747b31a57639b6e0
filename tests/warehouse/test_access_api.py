"""The token routes (warehouse/access_api.py) on the real engine: each answer is one their OpenAPI documents."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from tests.factories.access import admin_api
from tests.factories.openapi import assert_documented

pytestmark = pytest.mark.integration


def test_refusals_of_the_token_routes_are_documented(settings: Settings, warehouse: Client) -> None:
    """Schemathesis found an unknown scope's 422 (a message) against FastAPI's 422 schema (a list),
    a body that is not UTF-8 answered FastAPI's undocumented 400, and a revoke of an unknown id an
    undocumented 404."""
    api = admin_api(settings, warehouse)
    openapi = api.get("/openapi.json").json()
    unknown_scope = api.post("/v1/keys", json={"name": "x", "scopes": ["write"]})
    bad_field = api.post("/v1/keys", json={"name": "", "scopes": ["read"]})
    unreadable = api.post("/v1/keys", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    unknown_id = api.delete("/v1/keys/0000000000000000")
    statuses = (unknown_scope.status_code, bad_field.status_code, unreadable.status_code, unknown_id.status_code)
    assert statuses == (422, 422, 400, 404)
    assert_documented(openapi, "POST", "/v1/keys", unknown_scope)
    assert_documented(openapi, "POST", "/v1/keys", bad_field)
    assert_documented(openapi, "POST", "/v1/keys", unreadable)
    assert_documented(openapi, "DELETE", "/v1/keys/{token_id}", unknown_id)
