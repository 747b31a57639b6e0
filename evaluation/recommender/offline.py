"""Offline evaluation of the recommenders on MovieLens-format ratings.

Protocol (it reproduces the independent ml-latest-small figures we compare with):

- Positives are ratings ≥ ``min_rating`` (4 by default), as implicit feedback of weight 1; lower
  ratings are dropped. The catalogue is every movie of the ratings file.
- Per user, a seeded random 20 % of the positives is held out for test (see
  :mod:`recommender.split`: a user needs at least 2 positives to be evaluated).
- Every model is fitted on the training positives. Each evaluated user ranks the full catalogue
  from their training positives, with those training positives excluded ("seen" = training
  positives; lower-rated movies are not excluded, they simply never count as hits).
- Recall@10, NDCG@10 and HR@10 as defined in :mod:`recommender.metrics` (recall divides by the
  number of held-out items, not by min(10, that number)).
- Rows: popularity, item-kNN (k = 200), EASE (λ = 200), and the production model, which is what
  :func:`recommender.selection.select_model` chooses on a validation split of the training part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.interactions import Interactions
from recommender.metrics import RankingMetrics, measure
from recommender.models import ModelConfig, Recommender
from recommender.movielens import MovieLensError
from recommender.selection import DEFAULT_GRID, DEFAULT_PRODUCTION, Selection, candidates_of, select_model
from recommender.split import Split, split_per_user

K = 10
TEST_FRACTION = 0.2
REFERENCE_MODELS: dict[str, ModelConfig] = {
    "popularity": ModelConfig("popularity", {"weighted": True}),
    "itemknn": ModelConfig("itemknn", {"k": 200}),
    "ease": ModelConfig("ease", {"lam": 200.0}),
}
PRODUCTION = "production"

ProgressCallback = Callable[[str, int, int], None]  # (step description, steps done, steps in all)


@dataclass(frozen=True)
class EvaluationReport:
    metrics: dict[str, RankingMetrics]  # popularity, itemknn, ease, production, in that order
    production: ModelConfig
    selection: Selection
    dataset: dict[str, int | float] = field(default_factory=dict)

    def as_json(self) -> dict[str, dict[str, float]]:
        """``{"popularity": {"recall@10": …, "ndcg@10": …, "hr@10": …}, …, "production": {…}}``."""
        return {name: metrics.as_dict() for name, metrics in self.metrics.items()}


def positive_interactions(ratings: pd.DataFrame, min_rating: float) -> Interactions:
    """Users × the whole rated catalogue, weight 1 where the rating is at least ``min_rating``."""
    catalogue = np.sort(ratings["movieId"].unique())
    # A movie rated twice by one viewer counts once, with the latest rating.
    latest = ratings.sort_values("timestamp", kind="stable").drop_duplicates(["userId", "movieId"], keep="last")
    positives = latest[latest["rating"] >= min_rating]
    if positives.empty:
        raise MovieLensError(f"no rating is ≥ {min_rating:g}: nothing to learn from")
    return Interactions.from_frame(positives, user="userId", item="movieId", item_ids=catalogue)


def evaluation_split(ratings: pd.DataFrame, min_rating: float = 4.0, seed: int = 0) -> tuple[Interactions, Split]:
    positives = positive_interactions(ratings, min_rating)
    split = split_per_user(positives.matrix, TEST_FRACTION, seed=seed)
    if split.evaluated_users().size == 0:
        raise MovieLensError(f"no user has 2 or more ratings ≥ {min_rating:g}: nobody to evaluate")
    return positives, split


def run_evaluation(
    ratings: pd.DataFrame,
    *,
    min_rating: float = 4.0,
    seed: int = 0,
    grid: tuple[ModelConfig, ...] = DEFAULT_GRID,
    incumbent: ModelConfig = DEFAULT_PRODUCTION,
    progress: ProgressCallback | None = None,
) -> EvaluationReport:
    """Split, select the production model on the training part, fit every row and measure it."""
    positives, split = evaluation_split(ratings, min_rating, seed)
    total = len(candidates_of(grid, incumbent)) + len(REFERENCE_MODELS) + 1
    done = 0

    def step(description: str) -> None:
        nonlocal done
        if progress is not None:
            progress(description, done, total)
        done += 1

    selection = select_model(split.train, grid, incumbent=incumbent, seed=seed, k=K, on_step=step)
    fitted: dict[str, tuple[ModelConfig, Recommender]] = {}
    for name, config in REFERENCE_MODELS.items():
        step(f"fit {config.label}")
        fitted[name] = (config, config.build().fit(split.train))
    step(f"fit production {selection.chosen.label}")
    reused = [model for config, model in fitted.values() if config == selection.chosen]
    fitted[PRODUCTION] = (selection.chosen, reused[0] if reused else selection.chosen.build().fit(split.train))
    if progress is not None:
        progress("done", total, total)
    return EvaluationReport(
        metrics={name: measure(model, split, K).mean(K) for name, (_, model) in fitted.items()},
        production=selection.chosen,
        selection=selection,
        dataset=_describe(positives, split, min_rating),
    )


def _describe(positives: Interactions, split: Split, min_rating: float) -> dict[str, Any]:
    return {
        "users": positives.n_users,
        "evaluated_users": int(split.evaluated_users().size),
        "items": positives.n_items,
        "train_positives": int(split.train.nnz),
        "test_positives": int(split.test.nnz),
        "min_rating": min_rating,
    }
