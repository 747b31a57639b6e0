from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.explain import NO_LINK, strongest_links
from recommender.interactions import history_row
from recommender.models import EASE, ItemKNN, Popularity
from tests.factories.recommender import TINY_COSINE, clustered_matrix, tiny_matrix


def test_item_knn_names_the_neighbour_with_the_largest_weighted_similarity() -> None:
    model = ItemKNN(k=3).fit(tiny_matrix())
    # History: items 0 (weight 1) and 3 (weight 2). Target 1: 1·cos(0,1) = 0.816 vs 2·cos(3,1) = 1.0 → item 3.
    row = history_row([0, 3], 4, [1.0, 2.0])
    links = strongest_links(model, row, np.array([1, 2], np.int64))
    assert 2 * TINY_COSINE[3, 1] > TINY_COSINE[0, 1]
    assert 2 * TINY_COSINE[3, 2] > TINY_COSINE[0, 2]
    assert links.tolist() == [3, 3]
    light = history_row([0, 3], 4, [1.0, 0.5])  # now item 0 weighs more for target 1
    assert strongest_links(model, light, np.array([1], np.int64)).tolist() == [0]


def test_ease_links_follow_its_item_weights() -> None:
    matrix = clustered_matrix(n_users=60, n_items=20, clusters=2, per_user=5)
    model = EASE(lam=5.0).fit(matrix)
    row = history_row([0, 15], 20)
    targets = np.array([1, 2, 11, 12], np.int64)
    links = strongest_links(model, row, targets)
    assert links.tolist() == [0, 0, 15, 15]  # each target is explained by the history item of its cluster
    weights = model.weights  # all 20 items are active here: W[j, t] directly
    for target, link in zip(targets, links, strict=True):
        assert weights[link, target] == max(weights[0, target], weights[15, target])


def test_no_link_without_a_positive_contribution() -> None:
    matrix = sp.csr_array(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32))
    knn = ItemKNN(k=2).fit(matrix)  # items never co-occur: every similarity is 0
    assert strongest_links(knn, history_row([0], 3), np.array([1, 2], np.int64)).tolist() == [NO_LINK, NO_LINK]
    popularity = Popularity().fit(matrix)
    assert strongest_links(popularity, history_row([0], 3), np.array([1], np.int64)).tolist() == [NO_LINK]
    assert strongest_links(knn, history_row([], 3), np.array([1], np.int64)).tolist() == [NO_LINK]
