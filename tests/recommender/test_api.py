"""The recommender's routes on the warehouse-side API, on the real engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from recommender.catalog import ensure_catalog
from recommender.feedback import assess, interactions
from recommender.models import ModelConfig
from recommender.retrain import TrainingOptions, model_from_views, train_from_warehouse
from recommender.service import model_root
from recommender.store import swap_in
from recommender.trained import train
from tests.factories.access import admin_api
from tests.factories.openapi import assert_documented
from tests.factories.recommender import (
    VIEW_EPOCH,
    catalog_frame,
    cluster_title,
    clustered_views,
    insert_views,
    view_row,
    views_frame,
)
from tests.factories.waiting import wait_for

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

pytestmark = pytest.mark.integration

TITLES = [cluster_title(c, n) for c in range(3) for n in range(8)]
LOOKBACK = TrainingOptions(lookback=timedelta(days=3650))


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test's warehouse database, with a model store of its own."""
    return settings.model_copy(update={"data_dir": tmp_path})


@pytest.fixture
def api(api_settings: Settings, warehouse: Client) -> Iterator[TestClient]:
    ensure_catalog(warehouse, catalog_frame(TITLES, ("Drama", "Comedy")))
    with admin_api(api_settings, warehouse) as client:
        yield client


def get(api: TestClient, path: str, status: int = 200, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


# --- catalogue ----------------------------------------------------------------------------------
def test_search_the_catalogue(api: TestClient) -> None:
    body = get(api, "/v1/catalog/titles", q="title ml-1", limit=3)
    assert body["total"] == 8 and body["limit"] == 3
    assert [t["title_id"] for t in body["titles"]] == ["ml-100", "ml-101", "ml-102"]
    first = body["titles"][0]
    assert first["poster_url"] == "/v1/catalog/titles/ml-100/poster.svg" and first["year"] == 2001
    assert get(api, "/v1/catalog/titles", genre="Comedy", limit=1, offset=23)["titles"][0]["title_id"] == "ml-307"
    assert get(api, "/v1/catalog/titles", q="nothing like it")["titles"] == []
    assert get(api, "/v1/catalog/genres")["genres"] == [
        {"genre": "Comedy", "titles": 24},
        {"genre": "Drama", "titles": 24},
    ]


@pytest.mark.parametrize(
    ("params", "parameter", "allowed"),
    [
        ({"limit": 0}, "limit", {"min": 1, "max": 100}),
        ({"limit": 101}, "limit", {"min": 1, "max": 100}),
        ({"limit": "ten"}, "limit", {"min": 1, "max": 100}),
        ({"offset": -1}, "offset", {"min": 0, "max": 100_000}),
        ({"genre": "Westerns"}, "genre", ["Comedy", "Drama"]),
        ({"sort": "year"}, "sort", ["q", "genre", "limit", "offset"]),
    ],
)
def test_bad_catalogue_parameters_are_400_with_what_is_allowed(
    api: TestClient, params: dict[str, Any], parameter: str, allowed: Any
) -> None:
    detail = get(api, "/v1/catalog/titles", 400, **params)["detail"]
    found = detail[0] if isinstance(detail, list) else detail
    assert found["parameter"] == parameter and found["allowed"] == allowed


def test_one_title_and_its_poster(api: TestClient) -> None:
    assert get(api, "/v1/catalog/titles/ml-205")["title"] == "Title ml-205"
    assert get(api, "/v1/catalog/titles/ml-999", 404) == {"detail": "no title 'ml-999' in the catalogue"}
    assert get(api, "/v1/catalog/titles/bad id!", 400)["detail"][0]["parameter"] == "title_id"
    poster = api.get("/v1/catalog/titles/ml-205/poster.svg")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/svg+xml"
    assert "Title ml-205" in poster.text and "max-age" in poster.headers["cache-control"]
    thumb = api.get("/v1/catalog/titles/ml-205/poster.svg", params={"size": "thumb"})
    assert 'width="120"' in thumb.text
    assert get(api, "/v1/catalog/titles/ml-205/poster.svg", 400, size="huge")["detail"][0]["allowed"] == [
        "poster",
        "thumb",
    ]
    assert api.get("/v1/catalog/titles/ml-999/poster.svg").status_code == 404


@pytest.mark.parametrize(
    ("template", "url", "status"),
    [
        ("/v1/catalog/titles", "/v1/catalog/titles?limit=0", 400),
        ("/v1/catalog/titles", "/v1/catalog/titles?genre=Westerns", 400),
        ("/v1/catalog/titles/{title_id}", "/v1/catalog/titles/bad id!", 400),
        ("/v1/catalog/titles/{title_id}", "/v1/catalog/titles/ml-999", 404),
        ("/v1/catalog/titles/{title_id}/poster.svg", "/v1/catalog/titles/ml-205/poster.svg", 200),
        ("/v1/catalog/titles/{title_id}/poster.svg", "/v1/catalog/titles/ml-205/poster.svg?size=huge", 400),
        ("/v1/catalog/titles/{title_id}/poster.svg", "/v1/catalog/titles/ml-999/poster.svg", 404),
        ("/v1/recommendations/{viewer_id}", "/v1/recommendations/v1?k=0", 400),
        ("/v1/recommender/model", "/v1/recommender/model", 404),
    ],
)
def test_every_answer_is_documented(api: TestClient, template: str, url: str, status: int) -> None:
    """The 400s (the route class turns FastAPI's 422 into 400) and 404s were answered but undocumented,
    and the poster's OpenAPI named no media type."""
    answer = api.get(url)
    assert answer.status_code == status, answer.text
    assert_documented(api.get("/openapi.json").json(), "GET", template, answer)


def test_a_refused_training_request_is_documented(api: TestClient) -> None:
    answer = api.post("/v1/recommender/training", json={"lookback_days": 0})
    assert answer.status_code == 400, answer.text
    openapi = api.get("/openapi.json").json()
    assert_documented(openapi, "POST", "/v1/recommender/training", answer)
    assert "409" in openapi["paths"]["/v1/recommender/training"]["post"]["responses"]  # a training runs already


# --- recommendations ----------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, 101, -5, "ten"])
def test_k_outside_the_range_is_400_with_the_range(api: TestClient, k: Any) -> None:
    detail = get(api, "/v1/recommendations/v1", 400, k=k)["detail"]
    assert detail == [{"parameter": "k", "message": detail[0]["message"], "allowed": {"min": 1, "max": 100}}]


def test_a_malformed_viewer_id_or_unknown_parameter_is_400(api: TestClient) -> None:
    assert get(api, "/v1/recommendations/" + "x" * 65, 400)["detail"][0]["parameter"] == "viewer_id"
    assert get(api, "/v1/recommendations/v1", 400, n=3)["detail"]["allowed"] == ["k"]


def test_without_any_model_an_unknown_viewer_gets_popular_titles(api: TestClient, warehouse: Client) -> None:
    insert_views(warehouse, clustered_views(start=datetime.now(UTC) - timedelta(days=1)))  # recent demand
    body = get(api, "/v1/recommendations/nobody", k=3)
    assert body["strategy"] == "popular_no_model" and body["model"] is None
    assert len(body["items"]) == 3
    assert all(item["reason"] == "popular overall" for item in body["items"])
    assert body["items"][0]["title"]["title"].startswith("Title ml-")
    assert body["notes"][0].startswith("no recommendation model has been trained yet")
    assert get(api, "/v1/recommender/model", 404)["detail"].startswith("no recommendation model")


def test_a_trained_model_recommends_with_reasons_and_leaves_out_finished_titles(
    api: TestClient, api_settings: Settings, warehouse: Client
) -> None:
    rows = clustered_views()
    insert_views(warehouse, rows)
    train_from_warehouse(warehouse, model_root(api_settings), LOOKBACK)
    mine = [
        view_row("me", cluster_title(2, 0), at=VIEW_EPOCH + timedelta(days=30), exit_reason="ended"),
        view_row("me", cluster_title(2, 1), at=VIEW_EPOCH + timedelta(days=31), playing_ms=120_000.0),
    ]
    insert_views(warehouse, mine)
    body = get(api, "/v1/recommendations/me", k=4)
    assert body["strategy"] == "personal" and body["model"]["source"] == "views"
    items = body["items"]
    assert len(items) == 4
    assert {item["title_id"] for item in items} <= {cluster_title(2, n) for n in range(2, 8)}
    assert all(item["reason"].startswith("because you watched Title ml-30") for item in items)
    assert items[0]["because"]["title_id"] in {cluster_title(2, 0), cluster_title(2, 1)}
    assert [item["title_id"] for item in body["continue_watching"]] == [cluster_title(2, 1)]
    assert body["continue_watching"][0]["reason"] == "you started it"
    assert body["context"] == {"country": "NO", "region": "NO-03", "device_type": "tv"}
    model = get(api, "/v1/recommender/model")
    assert model["info"]["selection"]["chosen"]["kind"] in {"ease", "itemknn", "popularity"}


def se_mobile(viewer: str, title: str, at: datetime) -> dict[str, Any]:
    return view_row(viewer, title, at=at, country="SE", region="SE-AB", device_type="mobile")


def test_a_new_viewer_gets_what_is_popular_in_their_region_and_device(
    api: TestClient, api_settings: Settings, warehouse: Client
) -> None:
    rows = clustered_views()
    insert_views(warehouse, rows)
    train_from_warehouse(warehouse, model_root(api_settings), LOOKBACK)
    # Demand counts the last 7 days: these views are recent (the factory's are months old).
    recent = datetime.now(UTC)
    fresh = [se_mobile(f"se{i}", cluster_title(1, i % 2), recent) for i in range(4)]
    fresh.append(se_mobile("newcomer", "ml-unknown", recent))
    insert_views(warehouse, fresh)
    body = get(api, "/v1/recommendations/newcomer", k=2)
    assert body["strategy"] == "cold_start"
    assert [item["reason"] for item in body["items"]] == ["popular in SE-AB on mobile"] * 2
    assert {item["title_id"] for item in body["items"]} == {cluster_title(1, 0), cluster_title(1, 1)}


def test_the_model_is_reloaded_when_current_json_changes(api: TestClient, api_settings: Settings) -> None:
    frame = views_frame(clustered_views())
    root = model_root(api_settings)
    first = swap_in(model_from_views(frame), root)
    assert get(api, "/v1/recommendations/v1")["model"]["version"] == first.name
    second = swap_in(train(interactions(assess(frame)), ModelConfig("popularity")), root)
    body = get(api, "/v1/recommendations/v1")
    assert body["model"]["version"] == second.name and body["model"]["config"] == "popularity(weighted=True)"


def test_training_through_the_api(api: TestClient, warehouse: Client) -> None:
    started = api.post("/v1/recommender/training", json={"lookback_days": 3650})
    assert started.status_code == 202
    status = wait_for_training(api)
    assert status["state"] == "skipped" and status["detail"].startswith("not enough viewing to train on")
    insert_views(warehouse, clustered_views())
    assert api.post("/v1/recommender/training", json={"lookback_days": 3650}).status_code == 202
    status = wait_for_training(api)
    assert status["state"] == "succeeded", status
    assert status["report"]["viewers"] == 40 and status["report"]["titles"] == 24
    assert get(api, "/v1/recommendations/v3")["strategy"] == "personal"
    bad = api.post("/v1/recommender/training", json={"lookback_days": 0})
    assert bad.status_code == 400 and bad.json()["detail"][0]["parameter"] == "body.lookback_days"


def wait_for_training(api: TestClient, timeout_s: float = 120) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        lambda: get(api, "/v1/recommender/training"),
        timeout_s,
        "the training to finish",
        until=lambda status: status["state"] != "running",
        poll_s=0.1,
    )
    return status


def test_a_warehouse_that_cannot_answer_is_not_a_5xx(api: TestClient, warehouse: Client) -> None:
    warehouse.command("DROP TABLE views")
    body = get(api, "/v1/recommendations/v1")
    assert body["strategy"] == "unavailable" and body["items"] == []
    assert "try again" in body["notes"][0]
