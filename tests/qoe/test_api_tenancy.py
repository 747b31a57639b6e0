"""Tenancy on the warehouse API: a token bound to a property never reads what is not kept per property."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from foundation.access import Scope
from foundation.settings import Settings
from tests.factories.access import admin_api
from warehouse.access import create_token
from warehouse.properties import create_property

pytestmark = pytest.mark.integration

READ = frozenset({Scope.READ})


def test_recommendations_are_refused_to_a_token_bound_to_a_property(settings: Settings, warehouse: Client) -> None:
    create_property(warehouse, "brand-a", "Brand A", (), "test")
    bound = create_token(warehouse, "brand-a", READ, "test", property_id="brand-a").token
    unbound = create_token(warehouse, "everything", READ, "test").token
    with admin_api(settings, warehouse) as api:
        refused = api.get("/v1/recommendations/viewer-1", headers=bound.bearer)
        assert refused.status_code == 403 and "reads property brand-a only" in refused.json()["detail"]
        assert api.get("/v1/recommendations/viewer-1", headers=unbound.bearer).status_code == 200
        whoami = api.get("/v1/auth/whoami", headers=bound.bearer).json()
        assert whoami["property"] == "brand-a"
