from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.metrics import measure, user_metrics
from recommender.models import Popularity
from recommender.split import Split


def _relevant(rows: list[list[int]], n_items: int = 20) -> sp.csr_array:
    matrix = np.zeros((len(rows), n_items), np.float32)
    for user, items in enumerate(rows):
        matrix[user, items] = 1
    return sp.csr_array(matrix)


def test_metrics_of_hand_made_rankings() -> None:
    ranked = np.array(
        [
            [1, 2, 3, 4, 6, 7, 8, 9, 10, 11],  # relevant {1, 5}: hit at rank 1
            [0, 2, 3, 4, 6, 7, 8, 9, 10, 12],  # relevant {13}: no hit
            [0, 2, 3, 4, 6, 7, 8, 9, 10, 12],  # relevant {0, 2, 3}: hits at ranks 1, 2, 3 (ideal)
            [7, 2, 3, 4, 6, 0, 8, 9, 10, 12],  # relevant {2, 8}: hits at ranks 2 and 7
        ]
    )
    metrics = user_metrics(ranked, _relevant([[1, 5], [13], [0, 2, 3], [2, 8]]), k=10)
    np.testing.assert_allclose(metrics.recall, [0.5, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(metrics.hit, [1, 0, 1, 1])
    idcg_2 = 1 + 1 / math.log2(3)
    expected_ndcg = [1 / idcg_2, 0.0, 1.0, (1 / math.log2(3) + 1 / math.log2(8)) / idcg_2]
    np.testing.assert_allclose(metrics.ndcg, expected_ndcg)
    assert metrics.mean(10).as_dict() == pytest.approx(
        {"recall@10": 0.625, "ndcg@10": np.mean(expected_ndcg), "hr@10": 0.75}
    )


def test_recall_is_not_capped_at_k() -> None:
    relevant = _relevant([list(range(20))], n_items=30)
    metrics = user_metrics(np.arange(10)[np.newaxis, :], relevant, k=10)
    assert metrics.recall[0] == 0.5  # 10 hits of 20 relevant
    assert metrics.ndcg[0] == pytest.approx(1.0)  # the ideal list of 10 is achieved


def test_metrics_refuse_users_without_relevant_items() -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        user_metrics(np.zeros((1, 10), np.int64), _relevant([[]]), k=10)


def test_measure_excludes_training_items_and_ranks_the_rest() -> None:
    train = sp.csr_array(np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0]], np.float32))
    test = sp.csr_array(np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], np.float32))
    model = Popularity().fit(train)  # totals 1, 3, 1, 0: user 0 ranks 2, 3; user 1 ranks 0, 2, 3
    metrics = measure(model, Split(train, test), k=2)
    np.testing.assert_allclose(metrics.hit, [1.0, 0.0])  # user 2 has no test item: not evaluated
    np.testing.assert_allclose(metrics.ndcg, [1.0, 0.0])
