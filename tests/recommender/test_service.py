from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recommender.interactions import Interactions
from recommender.models import ModelConfig
from recommender.service import ModelHolder, TimedCache, as_title_ids
from recommender.store import POINTER_FILE, swap_in
from recommender.trained import TrainedRecommender, train
from tests.factories.recommender import clustered_matrix
from tests.factories.waiting import wait_for

EASE_5 = ModelConfig("ease", {"lam": 5.0})


def trained_on_movie_ids(config: ModelConfig = EASE_5) -> TrainedRecommender:
    """As ``qoe recommender train --from movielens`` makes it: MovieLens movieIds (10, 20, … 120) as item ids."""
    matrix = clustered_matrix(n_users=40, n_items=12, clusters=2, per_user=4)
    return train(Interactions(matrix, np.arange(40), np.arange(1, 13) * 10), config)


def test_no_pointer_no_model(tmp_path: Path) -> None:
    assert ModelHolder(tmp_path).current() is None


def test_a_swap_is_picked_up_on_the_next_call(tmp_path: Path) -> None:
    holder = ModelHolder(tmp_path)
    first = swap_in(trained_on_movie_ids(), tmp_path)
    loaded = holder.current()
    assert loaded is not None and loaded.version == first.name
    assert holder.current() is loaded  # unchanged pointer: no reload
    second = swap_in(trained_on_movie_ids(ModelConfig("popularity")), tmp_path)
    reloaded = holder.current()
    assert reloaded is not None and reloaded.version == second.name
    assert reloaded.trained.config == ModelConfig("popularity", {"weighted": True})


def test_a_broken_model_leaves_the_previous_one_serving(tmp_path: Path) -> None:
    holder = ModelHolder(tmp_path)
    good = swap_in(trained_on_movie_ids(), tmp_path)
    assert holder.current() is not None
    (tmp_path / "broken").mkdir()
    (tmp_path / POINTER_FILE).write_text(json.dumps({"version": "broken"}))
    still = holder.current()
    assert still is not None and still.version == good.name
    assert holder.last_error is not None and "broken" in holder.last_error


def test_movielens_models_speak_catalogue_ids() -> None:
    mapped = as_title_ids(trained_on_movie_ids())
    assert mapped.item_ids.tolist()[:3] == ["ml-10", "ml-20", "ml-30"]
    assert [r.item_id for r in mapped.recommend_for_history(["ml-10"], k=2)] == [
        f"ml-{r.item_id}" for r in trained_on_movie_ids().recommend_for_history([10], k=2)
    ]
    assert as_title_ids(mapped) is mapped


def test_the_timed_cache_serves_the_old_value_while_it_refreshes() -> None:
    calls: list[int] = []
    release = threading.Event()

    def load() -> int:
        calls.append(1)
        if len(calls) > 1:  # every refresh waits until the test lets it finish
            release.wait(10)
        return len(calls)

    fresh = TimedCache(lambda: 7, ttl_s=3600)
    assert (fresh.get(), fresh.get()) == (7, 7)
    stale = TimedCache(load, ttl_s=0)
    assert stale.get() == 1  # the first load is waited for
    # Stale: answered with the old value while the refresh waits (a get that blocked on the
    # refresh would see 2 once release.wait times out).
    assert stale.get() == 1
    assert stale.get() == 1 and len(calls) == 2  # no second refresh while one runs
    release.set()
    wait_for(stale.get, 10, "the refreshed value", until=lambda value: value >= 2, poll_s=0.01)


def test_a_failed_refresh_keeps_the_old_value() -> None:
    answers = iter([1])

    def load() -> int:
        return next(answers)  # StopIteration after the first value

    cache = TimedCache(load, ttl_s=0)
    assert cache.get() == 1
    for _ in range(20):
        assert cache.get() == 1
        time.sleep(0.01)


@pytest.mark.parametrize("pointer", ["{", json.dumps({"version": "../escape"})])
def test_an_unreadable_pointer_means_no_model(tmp_path: Path, pointer: str) -> None:
    (tmp_path / POINTER_FILE).write_text(pointer)
    holder = ModelHolder(tmp_path)
    assert holder.current() is None and holder.last_error is not None
