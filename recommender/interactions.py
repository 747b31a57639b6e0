"""User × item matrices of implicit feedback, with the ids behind their rows and columns.

Models work on indices; this module owns the mapping between ids (MovieLens movieId today,
catalogue title ids later) and matrix positions, so a saved model can carry its item ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

WEIGHT_DTYPE = np.float32


@dataclass(frozen=True)
class Interactions:
    """``matrix[u, i]`` is the summed weight of user ``user_ids[u]`` on item ``item_ids[i]`` (CSR, float32)."""

    matrix: Any
    user_ids: npt.NDArray[Any]
    item_ids: npt.NDArray[Any]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user: str = "user_id",
        item: str = "item_id",
        weight: str | None = None,
        item_ids: npt.ArrayLike | None = None,
    ) -> Interactions:
        """One row per interaction; repeated (user, item) pairs add their weights.

        ``weight`` None counts every row as 1. ``item_ids`` fixes the catalogue (columns, in that
        order), so items nobody interacted with still get a column; rows on other items are an error.
        """
        users, user_codes = _codes(frame[user])
        if item_ids is None:
            items, item_codes = _codes(frame[item])
        else:
            items = np.asarray(item_ids)
            item_codes = pd.Index(items).get_indexer(frame[item])
            if (item_codes < 0).any():
                unknown = frame[item][item_codes < 0].iloc[0]
                raise ValueError(f"item {unknown!r} is not in the catalogue")
        weights = np.ones(len(frame), WEIGHT_DTYPE) if weight is None else frame[weight].to_numpy(WEIGHT_DTYPE)
        matrix = sp.csr_array((weights, (user_codes, item_codes)), shape=(len(users), len(items)))
        matrix.sum_duplicates()
        return cls(check_interactions(matrix), users, items)

    @property
    def n_users(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])


def _codes(column: pd.Series[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Sorted distinct ids and the position of each row's id among them."""
    codes, uniques = pd.factorize(column, sort=True)
    return np.asarray(uniques), codes.astype(np.int64)


def check_interactions(matrix: Any) -> Any:
    """The matrix as CSR float32, or ValueError when it cannot be implicit feedback.

    Weights must be finite and non-negative: a view that went badly is down-weighted, not negative.
    """
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ValueError("interactions must be a 2-D scipy sparse matrix (users × items)")
    csr = sp.csr_array(matrix, dtype=WEIGHT_DTYPE)
    if not np.isfinite(csr.data).all():
        raise ValueError("interaction weights must be finite")
    if (csr.data < 0).any():
        raise ValueError("interaction weights must be non-negative")
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr


def history_row(item_indices: npt.ArrayLike, n_items: int, weights: npt.ArrayLike | None = None) -> Any:
    """One user's history as a 1 × n_items CSR row (weight 1 per item unless given)."""
    indices = np.asarray(item_indices, dtype=np.int64).ravel()
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        raise ValueError(f"item index out of range 0..{n_items - 1}")
    values = np.ones(indices.size, WEIGHT_DTYPE) if weights is None else np.asarray(weights, WEIGHT_DTYPE).ravel()
    if values.size != indices.size:
        raise ValueError("weights and item indices differ in length")
    row = sp.csr_array((values, (np.zeros(indices.size, np.int64), indices)), shape=(1, n_items))
    return check_interactions(row)


def recency_weights(
    timestamps: pd.Series[Any] | pd.DatetimeIndex, now: datetime, half_life: timedelta
) -> npt.NDArray[np.float32]:
    """Exponential decay: an interaction ``half_life`` old weighs 0.5, a fresh one 1.

    Multiply these into interaction weights to make any model (popularity first) favour recent activity.
    """
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    stamps = pd.to_datetime(timestamps, utc=True)
    age_s = (pd.Timestamp(now) - stamps) / pd.Timedelta(seconds=1)
    ages = np.clip(np.asarray(age_s, dtype=np.float64), 0.0, None)
    return np.exp2(-ages / half_life.total_seconds()).astype(np.float32)
