"""Tenancy of the Stats API, /v1/views and /v1/events: a token bound to a property reads only it.

Without a ``property`` filter a bound token's reads are filtered by its own property (the answer's
``filters`` say so); naming another property is refused 403 with the reason; a breakdown by
property shows its one row. A view, or raw events, of another property are answered 404 exactly
like an unknown view's, so the token learns nothing of other properties. A token bound to no
property reads every one, as before properties.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from starlette.requests import Request

from foundation.access import AccessDeniedError, Principal, Scope, Token
from foundation.settings import Settings
from streams.sink import RawEventSink, SourceRecord
from tests.factories.access import admin_api
from tests.factories.openapi import assert_documented
from tests.factories.tenancy import PropertyView, read_token, store_views
from tests.factories.views import Script, record
from warehouse.deps import bound_property, read_property

# Each Stats API route with the parameters it needs besides the filters.
STATS_ROUTES: dict[str, dict[str, str]] = {
    "/v1/stats/overview": {},
    "/v1/stats/breakdown": {"dimension": "cdn"},
    "/v1/stats/timeseries": {"metric": "attempts"},
}


# --- the rule, without a warehouse ------------------------------------------------------------
@pytest.mark.parametrize(
    ("bound", "asked", "read"),
    [
        ("", None, None),  # a token bound to no property: every property, unless it asks for one
        ("", "brand-b", "brand-b"),
        ("brand-a", None, "brand-a"),  # forced to its own
        ("brand-a", "brand-a", "brand-a"),
    ],
)
def test_the_property_a_read_is_filtered_by(bound: str, asked: str | None, read: str | None) -> None:
    assert read_property(bound, asked) == read


def test_a_bound_token_naming_another_property_is_refused_with_the_reason() -> None:
    with pytest.raises(AccessDeniedError) as refused:
        read_property("brand-a", "brand-b")
    assert refused.value.status == 403
    assert refused.value.reason == "this token reads property brand-a only, not brand-b"


def request_with(state: dict[str, Any]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"", "state": state})


def test_the_bound_property_is_the_verified_principals() -> None:
    bound = Principal("0123456789abcdef", "brand-a", frozenset({Scope.READ}), "brand-a")
    unbound = Principal("0123456789abcdef", "everything", frozenset({Scope.READ}))
    assert bound_property(request_with({"principal": bound})) == "brand-a"
    assert bound_property(request_with({"principal": unbound})) == ""
    assert bound_property(request_with({})) == ""  # a router served without the token guard (a benchmark)


# --- over HTTP, on the embedded warehouse -----------------------------------------------------
@pytest.fixture
def api(settings: Settings, warehouse: Client) -> TestClient:
    """Brand A: two views (one on cdn-b); brand B: one; the default property: one, keyless."""
    store_views(
        warehouse,
        [
            PropertyView("a-1", "brand-a"),
            PropertyView("a-2", "brand-a", cdn="cdn-b"),
            PropertyView("b-1", "brand-b"),
            PropertyView("keyless", None),
        ],
    )
    return admin_api(settings, warehouse)


@pytest.fixture
def brand_a(warehouse: Client) -> Token:
    return read_token(warehouse, "brand-a")


@pytest.fixture
def everything(warehouse: Client) -> Token:
    return read_token(warehouse, "")


def get(api: TestClient, token: Token, url: str, status: int = 200, **params: Any) -> Any:
    response = api.get(url, params=params, headers=token.bearer)
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.integration
def test_a_bound_token_reads_its_property_without_naming_it(api: TestClient, brand_a: Token) -> None:
    overview = get(api, brand_a, "/v1/stats/overview", minutes=30)
    assert (overview["attempts"], overview["filters"]) == (2, {"property": "brand-a"})
    named = get(api, brand_a, "/v1/stats/overview", minutes=30, property="brand-a")  # its own: allowed
    assert (named["attempts"], named["filters"]) == (2, {"property": "brand-a"})
    by_cdn = get(api, brand_a, "/v1/stats/breakdown", dimension="cdn", minutes=30)
    assert {r["value"]: r["attempts"] for r in by_cdn["rows"]} == {"cdn-a": 1, "cdn-b": 1}
    assert by_cdn["totals"]["attempts"] == 2 and by_cdn["filters"] == {"property": "brand-a"}
    filtered = get(api, brand_a, "/v1/stats/overview", minutes=30, cdn="cdn-a")  # the cube
    assert (filtered["attempts"], filtered["filters"]) == (1, {"property": "brand-a", "cdn": "cdn-a"})
    series = get(api, brand_a, "/v1/stats/timeseries", metric="attempts", minutes=30)
    assert sum(p["value"] or 0 for p in series["points"]) == 2
    # Breaking down by property is allowed: one row, its own.
    by_property = get(api, brand_a, "/v1/stats/breakdown", dimension="property", minutes=30)
    assert [(r["value"], r["attempts"]) for r in by_property["rows"]] == [("brand-a", 2)]


@pytest.mark.integration
@pytest.mark.parametrize("route", STATS_ROUTES)
def test_a_bound_token_naming_another_property_is_refused_as_documented(
    api: TestClient, brand_a: Token, route: str
) -> None:
    needed = STATS_ROUTES[route]
    refused = api.get(route, params={**needed, "property": "brand-b"}, headers=brand_a.bearer)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this token reads property brand-a only, not brand-b"
    assert_documented(api.get("/openapi.json").json(), "GET", route, refused)
    assert api.get(route, params={**needed, "property": "brand-a"}, headers=brand_a.bearer).status_code == 200


@pytest.mark.integration
def test_a_token_bound_to_no_property_reads_every_property(api: TestClient, everything: Token) -> None:
    overview = get(api, everything, "/v1/stats/overview", minutes=30)
    assert (overview["attempts"], overview["filters"]) == (4, {})
    by_property = get(api, everything, "/v1/stats/breakdown", dimension="property", minutes=30)
    assert {r["value"]: r["attempts"] for r in by_property["rows"]} == {"brand-a": 2, "brand-b": 1, "default": 1}
    for prop, attempts in (("brand-a", 2), ("brand-b", 1), ("default", 1), ("brand-c", 0)):
        assert (get(api, everything, "/v1/stats/overview", minutes=30, property=prop)["attempts"] or 0) == attempts
    assert get(api, everything, "/v1/views/b-1")["view"]["property"] == "brand-b"
    assert get(api, everything, "/v1/events/summary")["views"] == 4


@pytest.mark.integration
@pytest.mark.parametrize("value", ["Brand-A", "brand_a", "-brand", "b" * 64])
def test_a_property_filter_that_is_no_property_id_is_a_bad_request(
    api: TestClient, everything: Token, value: str
) -> None:
    assert get(api, everything, "/v1/stats/overview", 400, property=value)["detail"]


@pytest.mark.integration
def test_a_view_of_another_property_is_not_found_like_an_unknown_one(
    api: TestClient, warehouse: Client, brand_a: Token
) -> None:
    own = get(api, brand_a, "/v1/views/a-1")
    assert own["view"]["property"] == "brand-a" and [e["seq"] for e in own["events"]] == [0, 1, 2]
    unknown = get(api, brand_a, "/v1/views/nobody", 404)["detail"]
    other = get(api, brand_a, "/v1/views/b-1", 404)["detail"]
    assert other == unknown.replace("nobody", "b-1")
    # A view not sessionized yet: its own property's is said to be pending; another's is unknown.
    now = int(time.time() * 1000)
    pending = [
        record(Script(now).at(0, "playback_request").events, f"pending-{p}", server={"property": p})
        for p in ("brand-a", "brand-b")
    ]
    RawEventSink(warehouse, "c/pending").write([SourceRecord(0, i, value) for i, value in enumerate(pending)])
    assert "not sessionized yet" in get(api, brand_a, "/v1/views/pending-brand-a", 404)["detail"]
    assert get(api, brand_a, "/v1/views/pending-brand-b", 404)["detail"] == unknown.replace("nobody", "pending-brand-b")
    openapi = api.get("/openapi.json").json()
    assert_documented(openapi, "GET", "/v1/views/{view_id}", api.get("/v1/views/b-1", headers=brand_a.bearer))


@pytest.mark.integration
def test_raw_events_of_another_property_are_not_found_like_an_unknown_views(api: TestClient, brand_a: Token) -> None:
    assert [e["seq"] for e in get(api, brand_a, "/v1/events", view_id="a-2")["events"]] == [0, 1, 2]
    unknown = get(api, brand_a, "/v1/events", 404, view_id="nobody")["detail"]
    assert get(api, brand_a, "/v1/events", 404, view_id="b-1")["detail"] == unknown.replace("nobody", "b-1")
    summary = get(api, brand_a, "/v1/events/summary")
    assert (summary["views"], summary["rows"]) == (2, 6)  # brand A's two views of three events


@pytest.mark.integration
def test_the_openapi_documents_the_property_filter_and_the_refusal(api: TestClient) -> None:
    openapi = api.get("/openapi.json").json()
    for route in STATS_ROUTES:
        operation = openapi["paths"][route]["get"]
        (prop,) = [p for p in operation["parameters"] if p["name"] == "property"]
        assert prop["in"] == "query" and "403" in prop["description"]
        assert "bound to a property" in operation["responses"]["403"]["description"]
    breakdown = openapi["paths"]["/v1/stats/breakdown"]["get"]["parameters"]
    (dimension,) = [p for p in breakdown if p["name"] == "dimension"]
    assert "property" in dimension["schema"]["enum"]
