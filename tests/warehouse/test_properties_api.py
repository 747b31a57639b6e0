"""The property routes (warehouse/properties_api.py) on the real engine: admin only, and each answer
one their OpenAPI documents."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from foundation.access import Scope
from foundation.properties import Property, valid_property_key
from foundation.settings import Settings
from tests.factories.access import ADMIN, admin_api
from tests.factories.openapi import assert_documented
from warehouse.access import create_token

pytestmark = pytest.mark.integration

ROUTE = "/v1/properties"


def test_properties_are_created_listed_and_revoked(settings: Settings, warehouse: Client) -> None:
    api = admin_api(settings, warehouse)
    openapi = api.get("/openapi.json").json()
    body = {"property_id": "web", "name": "web player", "origins": ["https://*.example.com"]}
    created = api.post(ROUTE, json=body)
    assert created.status_code == 201
    assert_documented(openapi, "POST", ROUTE, created)
    web: dict[str, Any] = created.json()
    assert valid_property_key(web["key"]) and web["active"] and web["origins"] == ["https://*.example.com"]
    assert web["created_by"].startswith(f"token:{ADMIN.token_id}")
    app = api.post(ROUTE, json={"property_id": "ios-app", "name": "iOS app"}).json()
    assert app["origins"] == []

    listed = api.get(ROUTE)
    assert listed.status_code == 200
    assert_documented(openapi, "GET", ROUTE, listed)
    properties = listed.json()["properties"]
    assert [prop["property_id"] for prop in properties] == ["ios-app", "web"]
    assert {Property.from_json(prop).key for prop in properties} == {web["key"], app["key"]}

    revoked = api.delete(f"{ROUTE}/web")
    assert revoked.status_code == 200
    assert_documented(openapi, "DELETE", f"{ROUTE}/{{property_id}}", revoked)
    assert not revoked.json()["active"] and revoked.json()["revoked_by"].startswith(f"token:{ADMIN.token_id}")
    states = {prop["property_id"]: prop["active"] for prop in api.get(ROUTE).json()["properties"]}
    assert states == {"web": False, "ios-app": True}
    assert not Property.from_json(api.get(ROUTE).json()["properties"][1]).active

    rotated = api.post(ROUTE, json=body)  # a revoked id may be created again: with a new key
    assert rotated.status_code == 201 and rotated.json()["key"] != web["key"]


def test_refusals_of_the_property_routes_are_documented_and_give_the_reason(
    settings: Settings, warehouse: Client
) -> None:
    api = admin_api(settings, warehouse)
    openapi = api.get("/openapi.json").json()
    assert api.post(ROUTE, json={"property_id": "web", "name": "web"}).status_code == 201
    answers = {
        "duplicate": api.post(ROUTE, json={"property_id": "web", "name": "again"}),
        "bad id": api.post(ROUTE, json={"property_id": "Web Player", "name": "web"}),
        "bad origin": api.post(ROUTE, json={"property_id": "tv", "name": "tv", "origins": ["https://x.example/app"]}),
        "bad field": api.post(ROUTE, json={"property_id": "tv", "name": "", "origins": []}),
        "unknown field": api.post(ROUTE, json={"property_id": "tv", "name": "tv", "key": "qoe_pk_mine"}),
        "unreadable": api.post(ROUTE, content=b"\xff\xfe{", headers={"content-type": "application/json"}),
    }
    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert statuses == {
        "duplicate": 409,
        "bad id": 422,
        "bad origin": 422,
        "bad field": 422,
        "unknown field": 422,
        "unreadable": 400,
    }
    assert "'web' exists" in answers["duplicate"].json()["detail"]
    assert "a property id is" in answers["bad id"].json()["detail"]
    assert "'https://x.example/app': an origin is" in answers["bad origin"].json()["detail"]
    for answer in answers.values():
        assert_documented(openapi, "POST", ROUTE, answer)
    unknown = api.delete(f"{ROUTE}/nobody")
    assert unknown.status_code == 404 and "no property 'nobody'" in unknown.json()["detail"]
    assert_documented(openapi, "DELETE", f"{ROUTE}/{{property_id}}", unknown)
    assert [prop["property_id"] for prop in api.get(ROUTE).json()["properties"]] == ["web"]


def test_the_property_routes_need_the_admin_scope(settings: Settings, warehouse: Client) -> None:
    reader = create_token(warehouse, "reader", frozenset({Scope.READ}), "ops").token
    api = admin_api(settings, warehouse)
    as_reader = TestClient(api.app, headers=reader.bearer)
    anonymous = TestClient(api.app)
    for method, path, body in [
        ("POST", ROUTE, {"property_id": "web", "name": "web"}),
        ("GET", ROUTE, None),
        ("DELETE", f"{ROUTE}/web", None),
    ]:
        refused = as_reader.request(method, path, json=body)
        assert refused.status_code == 403 and "needs admin" in refused.json()["detail"], (method, path)
        assert anonymous.request(method, path, json=body).status_code == 401, (method, path)
    assert api.get(ROUTE).json() == {"properties": []}
