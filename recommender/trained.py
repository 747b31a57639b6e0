"""A fitted model together with the item ids of its columns: what is saved, loaded and served.

``recommend_for_history`` speaks ids, not indices, and needs nothing but the viewer's history, so
viewers who were not in the training data (or arrived since) are served too. Items the model has
never seen (added to the catalogue after training) are ignored in the history; a viewer with no
known item at all (cold start) gets the most popular items of the training data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recommender.interactions import Interactions, history_row
from recommender.models import ModelConfig, Recommender, config_of, top_k_row

ItemId = int | str


@dataclass(frozen=True)
class Recommendation:
    item_id: ItemId
    score: float


@dataclass(frozen=True)
class TrainedRecommender:
    model: Recommender
    item_ids: npt.NDArray[Any]
    info: Mapping[str, Any] = field(default_factory=dict)  # provenance: data sizes, selection, dates
    popularity: npt.NDArray[np.float32] | None = None  # cold-start ranking: summed weight per item

    def __post_init__(self) -> None:
        object.__setattr__(self, "item_ids", normalise_item_ids(self.item_ids))
        if len(self.item_ids) != self.model.n_items:
            raise ValueError(f"{len(self.item_ids)} item ids for a model of {self.model.n_items} items")
        if not self._index.is_unique:
            raise ValueError("item ids must be unique")
        if self.popularity is not None and self.popularity.shape != (self.model.n_items,):
            raise ValueError("popularity needs one value per item")

    @property
    def config(self) -> ModelConfig:
        return config_of(self.model)

    @cached_property
    def _index(self) -> pd.Index[Any]:
        index: pd.Index[Any] = pd.Index(self.item_ids)
        return index

    def indices_of(self, item_ids: Iterable[ItemId]) -> npt.NDArray[np.int64]:
        """Positions of the given ids; −1 for ids the model does not know."""
        wanted = list(item_ids)
        if not wanted:
            return np.zeros(0, np.int64)
        return np.asarray(self._index.get_indexer(pd.Index(wanted)), dtype=np.int64)

    def recommend_for_history(
        self,
        item_ids: Sequence[ItemId],
        k: int = 10,
        exclude_ids: Iterable[ItemId] = (),
        weights: Sequence[float] | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best items for a viewer who interacted with ``item_ids`` (optionally weighted),
        never any of the history nor of ``exclude_ids``."""
        if weights is not None and len(weights) != len(item_ids):
            raise ValueError("weights and item ids differ in length")
        positions = self.indices_of(item_ids)
        known = positions >= 0
        values = None if weights is None else np.asarray(weights, dtype=np.float32)[known]
        row = history_row(positions[known], self.model.n_items, values)
        banned = self.indices_of(exclude_ids)
        banned = banned[banned >= 0]
        if row.nnz == 0 and self.popularity is not None:
            ranked = top_k_row(self.popularity, k, banned)
        else:
            ranked = self.model.recommend(row, k, banned)
        return [
            Recommendation(item_id=self.item_ids[index].item(), score=float(score))
            for index, score in zip(ranked.items, ranked.scores, strict=True)
        ]


def normalise_item_ids(item_ids: npt.ArrayLike) -> npt.NDArray[Any]:
    """Ids as int64 or fixed-width unicode: arrays that numpy saves and loads without pickle."""
    ids = np.asarray(item_ids)
    if ids.ndim != 1:
        raise ValueError("item ids must be one-dimensional")
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    if ids.dtype.kind == "U":
        return ids
    if ids.dtype.kind == "O" and all(isinstance(value, str) for value in ids):
        return ids.astype(str)
    raise ValueError(f"item ids must be integers or strings, not {ids.dtype}")


def train(interactions: Interactions, config: ModelConfig, info: Mapping[str, Any] | None = None) -> TrainedRecommender:
    """Fit ``config`` on the whole interaction matrix and attach the item ids."""
    model = config.build().fit(interactions.matrix)
    details = {"users": interactions.n_users, "items": interactions.n_items, "interactions": interactions.matrix.nnz}
    popularity = np.asarray(interactions.matrix.sum(axis=0), dtype=np.float32).ravel()
    return TrainedRecommender(
        model=model, item_ids=interactions.item_ids, info={**details, **(info or {})}, popularity=popularity
    )
