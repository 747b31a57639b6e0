"""Why an item was recommended: the history item that contributed most to its score.

EASE and item-kNN score a target item ``t`` as Σ_j x_j · W[j, t] over the viewer's history items
``j`` (weights ``x_j``), so the largest term names the title behind the recommendation
("because you watched X"). Popularity has no such term.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from recommender.models import EASE, ItemKNN, Recommender

IndexArray = npt.NDArray[np.int64]
NO_LINK = -1


def strongest_links(model: Recommender, history: Any, targets: IndexArray) -> IndexArray:
    """For each target index, the history item (index) with the largest positive contribution to
    its score, or :data:`NO_LINK` when none contributes positively. ``history`` is a 1 × n CSR row."""
    links = np.full(targets.size, NO_LINK, np.int64)
    items = np.asarray(history.indices, dtype=np.int64)
    if items.size == 0 or targets.size == 0:
        return links
    weights = np.asarray(history.data, dtype=np.float32)[:, np.newaxis]
    block = _contributions(model, items, targets)
    if block is None:
        return links
    block = block * weights
    best = np.argmax(block, axis=0)
    positive = block[best, np.arange(targets.size)] > 0
    links[positive] = items[best[positive]]
    return links


def _contributions(model: Recommender, items: IndexArray, targets: IndexArray) -> npt.NDArray[np.float32] | None:
    """W[items, targets] of a linear item-to-item model (0 where an item has no weight), else None."""
    if isinstance(model, EASE):
        position = np.full(model.n_items, -1, np.int64)
        position[model.active] = np.arange(model.active.size)
        rows, columns = position[items], position[targets]
        block = np.zeros((items.size, targets.size), np.float32)
        used_rows, used_columns = np.flatnonzero(rows >= 0), np.flatnonzero(columns >= 0)
        block[np.ix_(used_rows, used_columns)] = model.weights[np.ix_(rows[used_rows], columns[used_columns])]
        return block
    if isinstance(model, ItemKNN):
        return np.asarray(model.neighbours[items][:, targets].toarray(), dtype=np.float32)
    return None
