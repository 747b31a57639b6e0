"""What the gateway forwards: exactly the routes the warehouse API serves."""

from __future__ import annotations

from ingest.gateway import AllowList
from qoe.api import warehouse_routes


def test_the_gateway_forwards_the_warehouse_api_s_routes_and_nothing_else() -> None:
    routes = warehouse_routes()
    assert ("GET", "/v1/stats/overview") in routes
    assert ("GET", "/v1/views/{view_id}") in routes
    assert ("GET", "/v1/steering/decisions") in routes  # from a router the delivery router includes
    allowed = AllowList(routes)
    assert allowed.methods_for("/v1/recommendations/viewer-1") == {"GET"}
    assert allowed.methods_for("/v1/beacons") == set()  # ingest's own routes are not forwarded
    assert allowed.methods_for("/v1/anything/else") == set()
    assert all(path.startswith("/v1/") for _, path in routes)


def test_admin_routes_are_forwarded_for_the_warehouse_api_to_check_their_scope() -> None:
    """Erasure, training and token management reach the warehouse API, which refuses them without an admin token."""
    routes = warehouse_routes()
    assert ("POST", "/v1/privacy/erasure") in routes
    assert ("POST", "/v1/recommender/training") in routes
    assert {("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/{token_id}")} <= set(routes)
    assert ("GET", "/v1/auth/whoami") in routes
