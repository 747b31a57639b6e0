from __future__ import annotations

import numpy as np

from recommender.models import ModelConfig
from recommender.selection import DEFAULT_GRID, DEFAULT_PRODUCTION, candidates_of, select_model
from tests.factories.recommender import clustered_matrix

POPULARITY = ModelConfig("popularity", {"weighted": True})
EASE = ModelConfig("ease", {"lam": 2.0})


def test_a_clearly_better_candidate_replaces_the_incumbent() -> None:
    # Users only watch their own cluster: popularity cannot know which cluster, EASE can.
    matrix = clustered_matrix(n_users=200, n_items=40, clusters=4, per_user=8, seed=5)
    steps: list[str] = []
    selection = select_model(matrix, [POPULARITY, EASE], incumbent=POPULARITY, seed=0, on_step=steps.append)
    assert selection.chosen == EASE
    incumbent, challenger = selection.candidates
    assert (incumbent.config, challenger.config) == (POPULARITY, EASE)
    assert challenger.ndcg > incumbent.ndcg and challenger.t_stat > 2
    assert incumbent.gain == 0 and incumbent.t_stat == 0
    assert steps == ["validate popularity(weighted=True)", "validate ease(lam=2)"]
    assert "beats" in selection.reason


def test_the_incumbent_stays_when_no_candidate_is_clearly_better() -> None:
    matrix = clustered_matrix(n_users=200, n_items=40, clusters=4, per_user=8, seed=5)
    selection = select_model(matrix, [POPULARITY], incumbent=EASE, seed=0)
    assert selection.chosen == EASE
    assert [score.config for score in selection.candidates] == [EASE, POPULARITY]
    # a threshold nothing can pass keeps the incumbent even against a better candidate
    assert select_model(matrix, [POPULARITY, EASE], incumbent=POPULARITY, min_t=np.inf).chosen == POPULARITY


def test_selection_is_reproducible_and_serialisable() -> None:
    matrix = clustered_matrix(n_users=120, n_items=30, clusters=3, per_user=6, seed=2)
    first = select_model(matrix, [POPULARITY, EASE], incumbent=POPULARITY, seed=4)
    second = select_model(matrix, [POPULARITY, EASE], incumbent=POPULARITY, seed=4)
    assert first == second
    assert first.to_json()["chosen"] == first.chosen.to_json()
    assert len(first.to_json()["validation"]) == 2


def test_the_default_grid_covers_every_kind_and_the_default_production() -> None:
    candidates = candidates_of(DEFAULT_GRID, DEFAULT_PRODUCTION)
    assert candidates[0] == DEFAULT_PRODUCTION
    assert {config.kind for config in candidates} == {"popularity", "itemknn", "ease"}
    assert len(candidates) == len(DEFAULT_GRID)  # the default production is in the grid already
