"""The warehouse-side API on an empty warehouse: every read answers 404 or an empty result, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from foundation.settings import Settings
from tests.factories.access import admin_api

pytestmark = pytest.mark.integration

# Every GET route, with unknown ids, and what an empty warehouse answers: (url, status, empty part of the body).
EMPTY_READS: list[tuple[str, int, str | None]] = [
    ("/v1/events/summary", 200, None),
    ("/v1/events?view_id=nobody", 404, None),
    ("/v1/stats/overview", 200, None),
    ("/v1/stats/breakdown?dimension=cdn", 200, "rows"),
    ("/v1/stats/timeseries?metric=attempts", 200, None),
    ("/v1/views/nobody", 404, None),
    ("/v1/autoscaling/signals", 200, "regions"),
    ("/v1/autoscaling/metrics", 200, None),
    ("/v1/steering/decisions", 200, "decisions"),
    ("/v1/steering/priorities", 200, "groups"),
    ("/v1/catalog/titles", 200, "titles"),
    ("/v1/catalog/genres", 200, "genres"),
    ("/v1/catalog/titles/nobody", 404, None),
    ("/v1/catalog/titles/nobody/poster.svg", 404, None),
    ("/v1/recommendations/nobody", 200, "items"),
    ("/v1/recommender/model", 404, None),
    ("/v1/recommender/training", 200, None),
    ("/v1/auth/whoami", 200, None),
    ("/v1/keys", 200, None),
    ("/v1/dashboard-users", 200, "users"),
    ("/v1/properties", 200, "properties"),
]


@pytest.fixture
def api(settings: Settings, warehouse: Client) -> TestClient:
    return admin_api(settings, warehouse, raise_server_exceptions=False)


def test_the_table_covers_every_get_route(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    routes = {path for path, operations in paths.items() if "get" in operations}
    covered = {url.split("?")[0].replace("nobody", "{id}") for url, _, _ in EMPTY_READS}
    assert {_generic(path) for path in routes} == covered


def _generic(path: str) -> str:
    return path.replace("{view_id}", "{id}").replace("{title_id}", "{id}").replace("{viewer_id}", "{id}")


@pytest.mark.parametrize(("url", "status", "empty"), EMPTY_READS)
def test_an_empty_read_is_well_formed(api: TestClient, url: str, status: int, empty: str | None) -> None:
    answer = api.get(url)
    assert answer.status_code == status, answer.text
    if answer.headers["content-type"].startswith("application/json"):
        body: Any = answer.json()
        if status == 404:
            assert body["detail"]
        if empty is not None:
            assert not body[empty]
