"""Seeded per-user holdout: each user's interactions split at random into train and test.

Rule: a user with n ≥ 2 interactions puts round(test_fraction · n) of them in test, at least 1 and
at most n − 1 (so every evaluated user keeps a history to be scored from); a user with fewer than 2
keeps everything in train and is not evaluated. One generator seeded with ``seed`` draws a
permutation of each such user's items, users in row order and items in column order, and the
first items of the permutation are held out; so the draw depends only on the seed and the matrix,
never on the order the input rows came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.interactions import check_interactions

MIN_INTERACTIONS_TO_HOLD_OUT = 2


@dataclass(frozen=True)
class Split:
    """Two CSR matrices of the same shape whose entries partition the original matrix."""

    train: Any
    test: Any

    def evaluated_users(self) -> npt.NDArray[np.int64]:
        """Rows with at least one test item."""
        return np.flatnonzero(np.diff(self.test.indptr)).astype(np.int64)


def split_per_user(matrix: Any, test_fraction: float = 0.2, seed: int | Sequence[int] = 0) -> Split:
    """Hold out a random ``test_fraction`` of each user's items (see the module docstring for the rule)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    csr = check_interactions(matrix)
    counts = np.diff(csr.indptr)
    sizes = _test_sizes(counts, test_fraction)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(csr.nnz, dtype=np.bool_)
    for user in np.flatnonzero(sizes):
        # One permutation per user, users in row order, items in column order: reproducible from the seed.
        first = csr.indptr[user]
        held_out[first + rng.permutation(counts[user])[: sizes[user]]] = True
    return Split(train=_entries(csr, ~held_out), test=_entries(csr, held_out))


def _test_sizes(counts: npt.NDArray[np.int64], test_fraction: float) -> npt.NDArray[np.int64]:
    rounded = np.floor(counts * test_fraction + 0.5).astype(np.int64)
    sizes: npt.NDArray[np.int64] = np.clip(rounded, 1, np.maximum(counts - 1, 0))
    sizes[counts < MIN_INTERACTIONS_TO_HOLD_OUT] = 0
    return sizes


def _entries(csr: Any, keep: npt.NDArray[np.bool_]) -> Any:
    coo = csr.tocoo()
    kept = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=csr.shape)
    return check_interactions(kept)
