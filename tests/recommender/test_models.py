from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.interactions import history_row
from recommender.models import (
    EASE,
    MODEL_KINDS,
    ItemKNN,
    ModelConfig,
    NotFittedError,
    Popularity,
    exclude_items,
    top_k,
    top_k_row,
)
from tests.factories.recommender import TINY, TINY_COSINE, clustered_matrix, tiny_matrix


def test_popularity_counts_users_or_sums_weights() -> None:
    weighted = sp.csr_array(np.array([[1.0, 0.5, 0], [1.0, 0.25, 0], [0, 0.25, 2.0]], dtype=np.float32))
    assert Popularity(weighted=False).fit(weighted).totals.tolist() == [2, 3, 1]
    assert Popularity(weighted=True).fit(weighted).totals.tolist() == [2.0, 1.0, 2.0]


def test_popularity_recommends_most_popular_unseen_items() -> None:
    model = Popularity(weighted=False).fit(tiny_matrix())  # counts 3, 2, 3, 2
    ranked = model.recommend(history_row([0], 4), k=2)
    assert ranked.items.tolist() == [2, 1]  # item 0 seen; 1 and 3 tie at 2, lower index first
    assert ranked.scores.tolist() == [3.0, 2.0]


def test_itemknn_with_every_neighbour_scores_with_the_hand_computed_cosines() -> None:
    model = ItemKNN(k=3).fit(tiny_matrix())
    np.testing.assert_allclose(model.neighbours.toarray(), TINY_COSINE, rtol=1e-6)
    np.testing.assert_allclose(model.score(tiny_matrix()), TINY @ TINY_COSINE, rtol=1e-6)


def test_itemknn_keeps_the_k_nearest_neighbours_of_each_target() -> None:
    model = ItemKNN(k=1).fit(tiny_matrix())
    # every item's single nearest neighbour has similarity 2/√6: 0↔1 and 2↔3
    expected = np.zeros((4, 4))
    for target, neighbour in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        expected[neighbour, target] = 2 / np.sqrt(6)
    np.testing.assert_allclose(model.neighbours.toarray(), expected, rtol=1e-6)


def test_itemknn_score_sums_similarities_to_the_history() -> None:
    model = ItemKNN(k=2).fit(tiny_matrix())
    # k=2 neighbourhoods: 0:{1,2}, 1:{0,3}, 2:{3,0}, 3:{2,1}; a user who has items 0 and 3
    scores = model.score(history_row([0, 3], 4))[0]
    np.testing.assert_allclose(scores[[1, 2]], [2 / np.sqrt(6) + 1 / 2, 2 / 3 + 2 / np.sqrt(6)], rtol=1e-6)
    assert model.recommend(history_row([0, 3], 4), k=2).items.tolist() == [2, 1]


def test_itemknn_neighbour_blocks_match_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = clustered_matrix(n_users=60, n_items=40, seed=3)
    whole = ItemKNN(k=5).fit(matrix).neighbours.toarray()
    monkeypatch.setattr("recommender.models.KNN_BLOCK", 7)
    np.testing.assert_allclose(ItemKNN(k=5).fit(matrix).neighbours.toarray(), whole, rtol=1e-6)


def _textbook_ease(x: np.ndarray, lam: float) -> np.ndarray:
    inverse = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    weights: np.ndarray = np.eye(x.shape[1]) - inverse @ np.diag(1.0 / np.diag(inverse))
    return weights


def test_ease_matches_the_closed_form() -> None:
    x = TINY.astype(np.float64)
    model = EASE(lam=1.0).fit(tiny_matrix())
    expected = _textbook_ease(x, 1.0)
    np.testing.assert_allclose(np.diag(expected), 0.0, atol=1e-12)  # the constraint holds by construction
    np.testing.assert_allclose(model.weights, expected, atol=1e-6)
    np.testing.assert_allclose(model.score(tiny_matrix()), x @ expected, atol=1e-5)


def test_ease_on_one_pair_by_hand() -> None:
    # Two items always seen together by n users: G = [[n, n], [n, n]], P = (G + λI)⁻¹, so
    # B_01 = −P_01 / P_11 = n / (n + λ).
    n, lam = 3, 2.0
    model = EASE(lam=lam).fit(sp.csr_array(np.ones((n, 2), np.float32)))
    np.testing.assert_allclose(model.weights, [[0.0, n / (n + lam)], [n / (n + lam), 0.0]], rtol=1e-6)


def test_ease_takes_weights_and_leaves_items_without_interactions_at_zero() -> None:
    x = np.array([[1.0, 0.5, 0, 0], [0.25, 1.0, 0, 1.0], [1.0, 0, 0, 0.5]])
    model = EASE(lam=0.5).fit(sp.csr_array(x))
    assert model.active.tolist() == [0, 1, 3]
    expected = x @ _textbook_ease(x, 0.5)  # the full formula, inactive column included
    np.testing.assert_allclose(model.score(sp.csr_array(x)), expected, atol=1e-5)
    assert np.all(model.score(sp.csr_array(x))[:, 2] == 0)


def test_models_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        EASE().fit(sp.csr_array(np.array([[1.0, -1.0]])))
    with pytest.raises(ValueError, match="sparse"):
        ItemKNN().fit(TINY)
    with pytest.raises(NotFittedError):
        Popularity().score(tiny_matrix())
    with pytest.raises(ValueError, match="items"):
        EASE(lam=1.0).fit(tiny_matrix()).score(sp.csr_array(np.ones((1, 3))))
    with pytest.raises(ValueError):
        EASE(lam=0)
    with pytest.raises(ValueError):
        ItemKNN(k=0)


def test_recommend_excludes_history_and_given_items_and_runs_out_gracefully() -> None:
    model = EASE(lam=1.0).fit(tiny_matrix())
    ranked = model.recommend(history_row([0], 4), k=10, exclude=[2])
    assert sorted(ranked.items.tolist()) == [1, 3]
    assert np.all(np.diff(ranked.scores) <= 0)
    assert 0 in model.recommend(history_row([0], 4), k=4, exclude_seen=False).items.tolist()
    with pytest.raises(ValueError, match="out of range"):
        model.recommend(history_row([0], 4), exclude=[4])


def test_recommend_works_for_a_history_unseen_in_training() -> None:
    matrix = clustered_matrix(n_users=80, n_items=40, clusters=4, seed=1)
    for model in (ItemKNN(k=10).fit(matrix), EASE(lam=5.0).fit(matrix)):
        ranked = model.recommend(history_row([20, 21, 22], 40), k=5)  # items of cluster 2 (20..29)
        assert all(20 <= item < 30 for item in ranked.items.tolist()), model.kind


def test_top_k_orders_best_first_and_exclusion_masks() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
    exclude_items(scores, sp.csr_array(np.array([[0, 1, 0, 0], [1, 0, 0, 0]])))
    items, values = top_k(scores, 2)
    assert items.tolist() == [[3, 2], [1, 2]]
    assert values.tolist() == [[np.float32(0.9), np.float32(0.5)], [2.0, 1.0]]
    assert top_k_row(np.array([1.0, 2.0], np.float32), 5, np.array([1])).items.tolist() == [0]


def test_configs_build_every_kind_and_round_trip_json() -> None:
    for kind in MODEL_KINDS:
        config = ModelConfig(kind)
        assert config.build().kind == kind
        assert ModelConfig.from_json(config.to_json()) == config
    assert ModelConfig("ease", {"lam": 200.0}).label == "ease(lam=200)"
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelConfig("svd")


@pytest.mark.parametrize("model", [Popularity(), ItemKNN(k=2), EASE(lam=1.0)], ids=lambda m: m.kind)
def test_state_restores_an_identical_model(model: Popularity | ItemKNN | EASE) -> None:
    model.fit(tiny_matrix())
    twin = type(model).restore(model.params, model.state(), model.n_items)
    np.testing.assert_array_equal(twin.score(tiny_matrix()), model.score(tiny_matrix()))
