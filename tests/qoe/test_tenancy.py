"""Issue 12's tenancy acceptance on the real stack (broker, worker, chDB): two properties in one
deployment; each one's Stats API and views show only its own data to a token bound to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from foundation.stack import LocalStack
from tests.factories.beacons import beacon
from tests.factories.views import Script
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

VIEWS = {"brand-a": 3, "brand-b": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"QOE_PROPERTY_KEYS_REQUIRED": "true"}
    with LocalStack(tmp_path_factory.mktemp("tenancy-stack"), env=env) as running:
        yield running


def admin(stack: LocalStack, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.request(method, f"{stack.gateway}{path}", json=body, headers=stack.auth_headers, timeout=30)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def a_view(key: str, view_id: str, t0: int) -> dict[str, Any]:
    script = Script(t0).at(0, "playback_request").at(800, "playback_start").at(20_800, "view_end")
    return beacon(script.events, view_id=view_id) | {"property_key": key}


def overview(client: httpx.Client, headers: dict[str, str], **filters: str) -> httpx.Response:
    return client.get("/v1/stats/overview", params={"minutes": 15, **filters}, headers=headers)


def test_each_property_reads_only_its_own_data(stack: LocalStack) -> None:
    t0 = int(time.time() * 1000) - 60_000
    tokens, view_ids = {}, {}
    for prop, count in VIEWS.items():
        key = admin(stack, "POST", "/v1/properties", {"property_id": prop, "name": prop, "origins": []})["key"]
        issued = admin(stack, "POST", "/v1/keys", {"name": prop, "scopes": ["read"], "property": prop})
        tokens[prop] = {"Authorization": f"Bearer {issued['token']}"}
        view_ids[prop] = [f"{prop}-{t0}-{i}" for i in range(count)]
        for view_id in view_ids[prop]:
            answer = httpx.post(f"{stack.gateway}/v1/beacons", json=a_view(key, view_id, t0), timeout=30)
            assert answer.status_code == 202, answer.text

    everyone = stack.auth_headers
    with httpx.Client(base_url=stack.gateway, timeout=30) as client:
        wait_for(
            lambda: overview(client, everyone).json().get("attempts"),
            90,
            "every view rolled up",
            until=lambda n: n == 5,
        )
        for prop, count in VIEWS.items():
            mine = overview(client, tokens[prop]).json()
            assert (mine["attempts"], mine["filters"]) == (count, {"property": prop})
            other = "brand-b" if prop == "brand-a" else "brand-a"
            assert overview(client, tokens[prop], property=other).status_code == 403
            rows = client.get("/v1/stats/breakdown", params={"dimension": "property"}, headers=tokens[prop]).json()
            assert [(row["value"], row["attempts"]) for row in rows["rows"]] == [(prop, count)]
            for view_id in view_ids[prop]:
                assert client.get(f"/v1/views/{view_id}", headers=tokens[prop]).status_code == 200
                assert client.get(f"/v1/views/{view_id}", headers=tokens[other]).status_code == 404
                assert client.get("/v1/events", params={"view_id": view_id}, headers=tokens[other]).status_code == 404
        both = client.get("/v1/stats/breakdown", params={"dimension": "property"}, headers=everyone).json()
        assert {row["value"]: row["attempts"] for row in both["rows"]} == VIEWS
