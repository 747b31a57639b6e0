"""The dashboards users' routes (warehouse/users_api.py) on the real engine: a user bound to a
property, and each answer one their OpenAPI documents."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from tests.factories.access import admin_api
from tests.factories.openapi import assert_documented
from warehouse.properties import create_property
from warehouse.users import find_user
from warehouse.users_api import USERS_ROUTE

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
ONE = f"{USERS_ROUTE}/{{name}}"


def test_a_read_user_is_bound_kept_and_unbound_through_the_routes(settings: Settings, warehouse: Client) -> None:
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    api = admin_api(settings, warehouse)
    openapi = api.get("/openapi.json").json()
    body = {"password": PASSWORD, "role": "read", "property": "brand-a"}
    bound = api.put(f"{USERS_ROUTE}/ops", json=body)
    assert bound.status_code == 200 and bound.json()["property"] == "brand-a"
    assert_documented(openapi, "PUT", ONE, bound)

    kept = api.put(f"{USERS_ROUTE}/ops", json={"password": "a new password, long enough", "role": "read"})
    assert kept.status_code == 200 and kept.json()["property"] == "brand-a", "no property given: kept"
    also_kept = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "read", "property": None})
    assert also_kept.json()["property"] == "brand-a"
    listed = api.get(USERS_ROUTE)
    assert_documented(openapi, "GET", USERS_ROUTE, listed)
    assert [(u["name"], u["property"]) for u in listed.json()["users"]] == [("ops", "brand-a")]

    unbound = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "read", "property": ""})
    assert unbound.status_code == 200 and unbound.json()["property"] is None
    found = find_user(warehouse, "ops")
    assert found is not None and found.property_id == ""


def test_refused_properties_are_documented_422s(settings: Settings, warehouse: Client) -> None:
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    api = admin_api(settings, warehouse)
    openapi = api.get("/openapi.json").json()
    unknown = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "read", "property": "brand-z"})
    bound_admin = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "admin", "property": "brand-a"})
    too_long = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "read", "property": "x" * 64})
    assert (unknown.status_code, bound_admin.status_code, too_long.status_code) == (422, 422, 422)
    assert "no active property 'brand-z'" in unknown.json()["detail"]
    assert "read role only" in bound_admin.json()["detail"]
    for answer in (unknown, bound_admin, too_long):
        assert_documented(openapi, "PUT", ONE, answer)

    api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "read", "property": "brand-a"})
    promoted = api.put(f"{USERS_ROUTE}/ops", json={"password": PASSWORD, "role": "admin"})
    assert promoted.status_code == 422 and "unbind it" in promoted.json()["detail"]
    assert_documented(openapi, "PUT", ONE, promoted)
    assert find_user(warehouse, "ops") is not None
    schema = openapi["components"]["schemas"]["UserChange"]["properties"]["property"]
    assert "Omitted or null" in schema["description"], "the kept property is documented"
