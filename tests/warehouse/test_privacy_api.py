"""``POST /v1/privacy/erasure`` (warehouse.privacy_api) in the platform's warehouse API, on the embedded engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from pydantic import SecretStr

from foundation.settings import Settings
from schemas.privacy import pseudonymous_viewer_id
from tests.factories.access import admin_api
from tests.factories.openapi import assert_documented
from tests.factories.privacy import Viewing, install_model, rows_holding, store_viewing
from warehouse import privacy

pytestmark = pytest.mark.integration

X, Y = "viewer-x-api", "viewer-y-api"
ROUTE = "/v1/privacy/erasure"


@pytest.fixture
def api(settings: Settings, warehouse: Client, tmp_path: Path) -> TestClient:
    # A model store of this test's own: the shared data directory's is other tests'.
    return admin_api(settings.model_copy(update={"data_dir": tmp_path}), warehouse)


def test_the_route_erases_the_viewer_and_says_what_it_removed(api: TestClient, warehouse: Client) -> None:
    store_viewing(
        warehouse, [Viewing(X, "view-x-api", "ml-1", exit_reason="user_exit"), Viewing(Y, "view-y-api", "ml-1")]
    )
    assert api.get("/v1/recommendations/" + X).json()["continue_watching"]

    answer = api.post(ROUTE, json={"viewer_id": X, "requested_by": "ticket-7"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["viewer_id_hash"] == privacy.viewer_hash(X) and body["requested_by"] == "ticket-7"
    assert body["rows_removed"]["views"] >= 1 and body["rows_removed"]["beacon_events"] == 4
    assert body["followups"] == {"recommender": "no model has been trained on this model store: nothing to retrain"}
    assert X not in answer.text
    for url in ("/v1/views/view-x-api", "/v1/events?view_id=view-x-api"):
        assert api.get(url).status_code == 404, url
    mine = api.get("/v1/recommendations/" + X).json()
    assert (mine["continue_watching"], mine["context"]) == ([], None)
    assert api.get("/v1/views/view-y-api").status_code == 200
    assert rows_holding(warehouse, [X, "view-x-api"]) == {}


def test_the_recommender_is_told_only_when_something_was_erased(
    settings: Settings, warehouse: Client, tmp_path: Path
) -> None:
    install_model(tmp_path / "models" / "recommender")  # no "source": trained on MovieLens ratings
    api = admin_api(settings.model_copy(update={"data_dir": tmp_path}), warehouse)
    nothing = api.post(ROUTE, json={"viewer_id": X}).json()
    assert (nothing["requested_by"], sum(nothing["rows_removed"].values()), nothing["followups"]) == ("api", 0, {})
    store_viewing(warehouse, [Viewing(X, "view-x-api", "ml-1")])
    body = api.post(ROUTE, json={"viewer_id": X}).json()
    assert "trained on MovieLens ratings, not on views" in body["followups"]["recommender"]


def test_with_hashed_viewer_ids_the_id_a_viewer_knows_erases_the_stored_hash(
    settings: Settings, warehouse: Client, tmp_path: Path
) -> None:
    key = "a-key-of-at-least-16-characters"
    stored = pseudonymous_viewer_id(key.encode(), X)  # what ingest writes in place of X
    store_viewing(warehouse, [Viewing(stored, "view-x-api", "ml-1"), Viewing(Y, "view-y-api", "ml-1")])
    hashing = settings.model_copy(update={"data_dir": tmp_path, "viewer_id_hmac_key": SecretStr(key)})
    body = admin_api(hashing, warehouse).post(ROUTE, json={"viewer_id": X}).json()
    assert body["viewer_id_hash"] == privacy.viewer_hash(stored) and body["rows_removed"]["beacon_events"] == 4
    assert rows_holding(warehouse, [stored, "view-x-api"]) == {}
    assert rows_holding(warehouse, [Y])["views"] >= 1


@pytest.mark.parametrize(
    "body",
    [{}, {"viewer_id": ""}, {"viewer_id": "x" * 65}, {"viewer_id": "a b"}, {"viewer_id": X, "also": 1}],
    ids=["missing", "empty", "too-long", "space", "unknown-field"],
)
def test_a_bad_request_is_refused_and_erases_nothing(
    api: TestClient, warehouse: Client, body: dict[str, object]
) -> None:
    assert api.post(ROUTE, json=body).status_code == 422
    assert warehouse.query("SELECT count() FROM privacy_erasures").result_rows[0][0] == 0


def test_a_body_that_is_not_utf_8_is_a_documented_400(api: TestClient, warehouse: Client) -> None:
    """Schemathesis found FastAPI's 400 for an unreadable body answered but undocumented."""
    answer = api.post(ROUTE, content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert_documented(api.get("/openapi.json").json(), "POST", ROUTE, answer)
    assert warehouse.query("SELECT count() FROM privacy_erasures").result_rows[0][0] == 0


def test_the_route_is_marked_admin_for_the_access_control(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"][ROUTE]["post"]
    assert operation["tags"] == ["admin"]
    assert operation["summary"].startswith("Admin:") and "Admin only" in operation["description"]
