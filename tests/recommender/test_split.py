from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.interactions import Interactions
from recommender.split import split_per_user
from tests.factories.recommender import clustered_matrix, ratings_frame


def _pairs(matrix: sp.csr_array) -> set[tuple[int, int]]:
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def test_split_partitions_the_matrix() -> None:
    matrix = clustered_matrix(seed=2)
    split = split_per_user(matrix, 0.2, seed=0)
    train, test = _pairs(split.train), _pairs(split.test)
    assert not train & test
    assert train | test == _pairs(matrix)
    assert split.train.shape == split.test.shape == matrix.shape


def test_same_seed_same_split_other_seed_other_split() -> None:
    matrix = clustered_matrix(seed=2)
    first, again = split_per_user(matrix, 0.2, seed=7), split_per_user(matrix, 0.2, seed=7)
    assert _pairs(first.test) == _pairs(again.test)
    assert _pairs(first.test) != _pairs(split_per_user(matrix, 0.2, seed=8).test)


def test_split_does_not_depend_on_the_order_of_input_rows() -> None:
    frame = ratings_frame()
    shuffled = frame.sample(frac=1.0, random_state=3)
    a = Interactions.from_frame(frame, user="userId", item="movieId")
    b = Interactions.from_frame(shuffled, user="userId", item="movieId")
    assert _pairs(split_per_user(a.matrix, seed=1).test) == _pairs(split_per_user(b.matrix, seed=1).test)


@pytest.mark.parametrize(
    ("positives", "held_out"),
    [(1, 0), (2, 1), (3, 1), (7, 1), (8, 2), (10, 2), (13, 3), (50, 10)],
)
def test_test_size_rule(positives: int, held_out: int) -> None:
    row = sp.csr_array(np.ones((1, positives), np.float32))
    split = split_per_user(row, 0.2, seed=0)
    assert split.test.nnz == held_out
    assert split.train.nnz == positives - held_out
    assert split.evaluated_users().tolist() == ([0] if held_out else [])


def test_weights_travel_with_their_entries() -> None:
    weights = np.arange(1, 11, dtype=np.float32).reshape(1, 10)
    split = split_per_user(sp.csr_array(weights), 0.3, seed=0)
    for part in (split.train, split.test):
        np.testing.assert_array_equal(part.data, part.indices + 1)


def test_split_refuses_a_fraction_outside_0_1() -> None:
    with pytest.raises(ValueError):
        split_per_user(clustered_matrix(), 1.0)


def test_interactions_from_frame_keep_the_catalogue_and_sum_repeats() -> None:
    frame = pd.DataFrame({"user_id": ["b", "a", "a"], "item_id": [30, 10, 10], "w": [1.0, 0.5, 0.25]})
    data = Interactions.from_frame(frame, weight="w", item_ids=[10, 20, 30])
    assert data.user_ids.tolist() == ["a", "b"]
    assert data.matrix.toarray().tolist() == [[0.75, 0, 0], [0, 0, 1.0]]
    with pytest.raises(ValueError, match="not in the catalogue"):
        Interactions.from_frame(frame, item_ids=[10])
