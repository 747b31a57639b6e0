"""Top-k ranking metrics with binary relevance: Recall@k, NDCG@k and HR@k.

- Recall@k = hits in the top k / number of relevant (held-out) items. Not capped at k: a user
  with 25 held-out items can reach at most 10/25. This is the definition that reproduces the
  independent ml-latest-small figures we compare with.
- NDCG@k = DCG@k / IDCG@k with gain 1 per hit and discount 1/log2(rank + 1) (rank from 1); the
  ideal list puts min(k, relevant) hits first.
- HR@k = 1 when at least one relevant item is in the top k.

Each is averaged over users with at least one relevant item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recommender.models import Recommender, exclude_items, top_k
from recommender.split import Split

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UserMetrics:
    """Per-user values, one entry per evaluated user."""

    recall: FloatArray
    ndcg: FloatArray
    hit: FloatArray

    @staticmethod
    def concat(parts: list[UserMetrics]) -> UserMetrics:
        return UserMetrics(
            recall=np.concatenate([part.recall for part in parts]),
            ndcg=np.concatenate([part.ndcg for part in parts]),
            hit=np.concatenate([part.hit for part in parts]),
        )

    def mean(self, k: int) -> RankingMetrics:
        if self.recall.size == 0:
            raise ValueError("no user to average over")
        return RankingMetrics(
            k=k,
            recall=float(self.recall.mean()),
            ndcg=float(self.ndcg.mean()),
            hit_rate=float(self.hit.mean()),
            users=int(self.recall.size),
        )


@dataclass(frozen=True)
class RankingMetrics:
    k: int
    recall: float
    ndcg: float
    hit_rate: float
    users: int

    def as_dict(self) -> dict[str, float]:
        return {f"recall@{self.k}": self.recall, f"ndcg@{self.k}": self.ndcg, f"hr@{self.k}": self.hit_rate}


def user_metrics(recommended: npt.NDArray[np.int64], relevant: Any, k: int) -> UserMetrics:
    """Metrics of ranked lists ``recommended`` (users × ≤k item indices, best first) against
    ``relevant`` (CSR, one row per user in the same order, entries = relevant items)."""
    if recommended.shape[0] != relevant.shape[0]:
        raise ValueError("one ranked list per row of relevant items is needed")
    ranked = recommended[:, :k]
    n_relevant = np.diff(relevant.indptr).astype(np.float64)
    if (n_relevant == 0).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    hits = _hits(ranked, relevant)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(np.int64) - 1]
    return UserMetrics(
        recall=hits.sum(axis=1) / n_relevant,
        ndcg=(hits * discounts[: ranked.shape[1]]).sum(axis=1) / ideal,
        hit=np.asarray(hits.any(axis=1), dtype=np.float64),
    )


def _hits(ranked: npt.NDArray[np.int64], relevant: Any) -> FloatArray:
    """1.0 where ranked[u, r] is one of user u's relevant items."""
    n_items = np.int64(relevant.shape[1])
    users = np.arange(ranked.shape[0], dtype=np.int64)
    ranked_codes = users[:, np.newaxis] * n_items + ranked
    coo = relevant.tocoo()
    relevant_codes = coo.row.astype(np.int64) * n_items + coo.col
    return np.isin(ranked_codes, relevant_codes).astype(np.float64)


def measure(model: Recommender, split: Split, k: int = 10, batch_users: int = 2048) -> UserMetrics:
    """Per-user metrics of ``model`` (fitted on ``split.train``): every evaluated user ranks the full
    catalogue from their training row, minus the items of that row, against their test items."""
    users = split.evaluated_users()
    if users.size == 0:
        raise ValueError("the split holds out no item: nobody to evaluate")
    parts = []
    for start in range(0, users.size, batch_users):
        batch = users[start : start + batch_users]
        history = split.train[batch]
        scores = exclude_items(model.score(history), history)
        ranked, _ = top_k(scores, k)
        parts.append(user_metrics(ranked, split.test[batch], k))
    return UserMetrics.concat(parts)
