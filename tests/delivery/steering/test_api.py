from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.steering.api import steering_router
from delivery.steering.manifest import PathwayClone
from delivery.steering.service import SteeringService
from schemas.steering import Group
from tests.factories.delivery import PATHWAYS, T0, score, steering_service
from tests.factories.openapi import assert_documented

BASE = "http://testserver/v1/steering/"


def client_for(service: SteeringService) -> TestClient:
    app = FastAPI()
    app.include_router(steering_router(lambda: service))
    return TestClient(app)


def assert_valid_manifest(body: dict[str, Any], known: tuple[str, ...] = PATHWAYS) -> None:
    assert body["VERSION"] == 1
    assert isinstance(body["TTL"], int) and body["TTL"] > 0
    assert isinstance(body["RELOAD-URI"], str)
    priority = body["PATHWAY-PRIORITY"]
    assert priority and len(set(priority)) == len(priority)
    assert set(priority) <= set(known)


def test_hls_manifest_follows_the_scores_and_reload_uri_resolves_to_the_same_endpoint() -> None:
    service, _ = steering_service(score("cdn-b", 92), score("cdn-a", 80), explore_rate=0.0)
    client = client_for(service)
    response = client.get(
        "/v1/steering/hls",
        params={
            "country": "NO",
            "asn": "2119",
            "device": "mobile",
            "stream_type": "live",
            "_HLS_pathway": "cdn-a",
            "_HLS_throughput": "3000000",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert_valid_manifest(body)
    assert body["PATHWAY-PRIORITY"] == ["cdn-b", "cdn-a", "cdn-c"]
    assert body["TTL"] == 20
    reload = urljoin(BASE + "hls", body["RELOAD-URI"])
    assert urlsplit(reload).path == "/v1/steering/hls"
    carried = dict(parse_qsl(urlsplit(reload).query))
    assert carried == {
        "country": "NO",
        "asn": "2119",
        "device": "mobile",
        "stream_type": "live",
        "qoe_v": "1",
        "qoe_p": "cdn-b,cdn-a,cdn-c",
    }
    again = client.get(reload + "&_HLS_pathway=cdn-b&_HLS_throughput=2500000")  # what hls.js appends
    assert again.status_code == 200 and again.json()["PATHWAY-PRIORITY"][0] == "cdn-b"


def test_dash_manifest_uses_pathway_priority_and_dash_reload() -> None:
    service, _ = steering_service(score("cdn-c", 95, group=Group("SE")), explore_rate=0.0)
    response = client_for(service).get('/v1/steering/dash?country=SE&_DASH_pathway="cdn-a,cdn-b"&_DASH_throughput=2e6')
    body = response.json()
    assert_valid_manifest(body)
    assert body["PATHWAY-PRIORITY"][0] == "cdn-c"
    assert "SERVICE-LOCATION-PRIORITY" not in body
    assert body["RELOAD-URI"].startswith("dash?country=SE")


def test_clones_are_listed_and_may_lead() -> None:
    clone = PathwayClone("cdn-a", "cdn-a-eu2", host="eu2.cdn-a.example")
    service, _ = steering_service(score("cdn-a-eu2", 97), clones=(clone,), explore_rate=0.0)
    body = client_for(service).get("/v1/steering/hls?country=NO&asn=2119&device=mobile&stream_type=live").json()
    assert_valid_manifest(body, (*PATHWAYS, "cdn-a-eu2"))
    assert body["PATHWAY-PRIORITY"][0] == "cdn-a-eu2"
    assert body["PATHWAY-CLONES"] == [
        {"BASE-ID": "cdn-a", "ID": "cdn-a-eu2", "URI-REPLACEMENT": {"HOST": "eu2.cdn-a.example"}}
    ]


def test_unknown_pathway_and_malformed_values_still_get_a_valid_manifest() -> None:
    service, _ = steering_service(explore_rate=0.0)
    response = client_for(service).get("/v1/steering/hls?_HLS_pathway=nope&_HLS_throughput=-1&asn=x&country=%00")
    assert response.status_code == 200
    body = response.json()
    assert_valid_manifest(body)
    assert body["PATHWAY-PRIORITY"] == list(PATHWAYS)  # no data: the safe default order


def test_oversized_queries_get_4xx() -> None:
    client = client_for(steering_service()[0])
    assert client.get("/v1/steering/hls?" + "a=" + "x" * 5000).status_code == 414
    response = client.get("/v1/steering/hls", params={"country": "x" * 300})
    assert response.status_code == 400 and "longer than" in response.json()["error"]


def test_switched_off_steering_answers_410() -> None:
    from dataclasses import replace

    service, _ = steering_service()
    service.config = replace(service.config, enabled=False)
    assert client_for(service).get("/v1/steering/hls").status_code == 410


def test_decision_endpoint_returns_the_group_decision_with_figures() -> None:
    service, decisions = steering_service(score("cdn-b", 92, views=800), score("cdn-a", 80), explore_rate=0.25)
    client = client_for(service)
    params = {"country": "NO", "asn": "2119", "device": "mobile", "stream_type": "live"}
    bodies = [client.get("/v1/steering/decision", params=params).json() for _ in range(50)]
    assert all(body["priority"] == ["cdn-b", "cdn-a", "cdn-c"] for body in bodies)  # never explores
    first, body = bodies[0], bodies[-1]
    assert first["reason"]["code"] == "initial" and first["changed"] is True
    assert body["reason"]["code"] == "incumbent_best" and body["changed"] is False
    assert body["group"] == "NO/2119/mobile/live"
    assert body["version"] == 1
    assert body["figures"]["cdn-b"]["views"] == 800 and body["figures"]["cdn-b"]["backoff_level"] == 0
    assert body["decided_at"] == T0.isoformat()
    assert len(decisions.records) == 1


def test_decision_endpoint_is_strict() -> None:
    client = client_for(steering_service()[0])
    for params in ({"country": "Norway"}, {"asn": "x"}, {"device": "toaster"}, {"stream_type": "radio"}):
        response = client.get("/v1/steering/decision", params=params)
        assert response.status_code == 400, params
        assert "error" in response.json()


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/v1/steering/decision?country=Norway", 400),
        ("/v1/steering/decision?" + "a=" + "x" * 5000, 414),
        ("/v1/steering/hls?country=" + "x" * 300, 400),
        ("/v1/steering/dash?" + "a=" + "x" * 5000, 414),
    ],
)
def test_refusals_are_documented(url: str, status: int) -> None:
    """These were answered but undocumented: the OpenAPI listed only 200 and a 422 never sent."""
    client = client_for(steering_service()[0])
    response = client.get(url)
    assert response.status_code == status
    assert_documented(client.get("/openapi.json").json(), "GET", urlsplit(url).path, response)


def test_the_410_of_switched_off_steering_is_documented() -> None:
    from dataclasses import replace

    service, _ = steering_service()
    service.config = replace(service.config, enabled=False)
    client = client_for(service)
    response = client.get("/v1/steering/dash")
    assert response.status_code == 410
    assert_documented(client.get("/openapi.json").json(), "GET", "/v1/steering/dash", response)


def test_service_defaults_to_app_state() -> None:
    service, _ = steering_service()
    app = FastAPI()
    app.state.steering = service
    app.include_router(steering_router())
    assert TestClient(app).get("/v1/steering/hls").status_code == 200


def test_a_failing_policy_answers_the_default_manifest_not_500(monkeypatch: Any) -> None:
    service, _ = steering_service(score("cdn-b", 95))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(service, "steer", broken)
    response = client_for(service).get("/v1/steering/hls?country=NO")
    assert response.status_code == 200
    assert response.json()["PATHWAY-PRIORITY"] == list(PATHWAYS)


_NAMES = st.sampled_from(
    [
        "_HLS_pathway",
        "_HLS_throughput",
        "_DASH_pathway",
        "_DASH_throughput",
        "country",
        "asn",
        "device",
        "stream_type",
        "qoe_v",
        "qoe_p",
    ]
) | st.text(max_size=20)
_VALUES = st.sampled_from(["cdn-a", '"cdn-a,cdn-b"', "1e400", "-0", "NO", "AS1", "tv", "live", "nan"]) | st.text(
    max_size=300
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    protocol=st.sampled_from(["hls", "dash"]),
    pairs=st.lists(st.tuples(_NAMES, _VALUES), max_size=40),
    raw_tail=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60),
)
def test_bad_input_never_gets_a_5xx(protocol: str, pairs: list[tuple[str, str]], raw_tail: str) -> None:
    service, _ = steering_service(score("cdn-b", 90), score("cdn-a", 85))
    client = client_for(service)
    url = f"/v1/steering/{protocol}?{urlencode(pairs)}&{raw_tail}"
    response = client.get(url)
    assert response.status_code in (200, 400, 414), (url, response.status_code)
    if response.status_code == 200:
        assert_valid_manifest(response.json())
    else:
        assert response.json()["error"]
