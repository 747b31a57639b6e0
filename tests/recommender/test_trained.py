from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.interactions import Interactions
from recommender.models import ModelConfig
from recommender.trained import TrainedRecommender, train
from tests.factories.recommender import clustered_matrix


def _catalogue_interactions(id_kind: str) -> Interactions:
    coo = clustered_matrix(n_users=80, n_items=40, clusters=4, seed=1).tocoo()
    ids = [f"title-{i:02d}" if id_kind == "str" else 1000 + i for i in range(40)]
    frame = pd.DataFrame({"user_id": coo.row, "item_id": [ids[i] for i in coo.col]})
    return Interactions.from_frame(frame, item_ids=ids)


@pytest.mark.parametrize("id_kind", ["int", "str"])
def test_recommend_for_history_speaks_item_ids(id_kind: str) -> None:
    data = _catalogue_interactions(id_kind)
    trained = train(data, ModelConfig("ease", {"lam": 5.0}))
    cluster_two = data.item_ids[20:30].tolist()
    history, excluded = cluster_two[:3], cluster_two[3:5]
    recommended = trained.recommend_for_history(history, k=5, exclude_ids=excluded)
    ids = [rec.item_id for rec in recommended]
    assert len(ids) == 5 and set(ids) <= set(cluster_two[5:])
    assert all(type(item) is type(history[0]) for item in ids)  # plain int / str, not numpy scalars
    assert [rec.score for rec in recommended] == sorted((rec.score for rec in recommended), reverse=True)


def test_unknown_ids_are_ignored_and_cold_start_gets_popular_items() -> None:
    data = _catalogue_interactions("int")
    trained = train(data, ModelConfig("itemknn", {"k": 10}))
    with_unknown = trained.recommend_for_history([1020, 999_999], k=3)
    assert [rec.item_id for rec in with_unknown] == [rec.item_id for rec in trained.recommend_for_history([1020], k=3)]
    cold = trained.recommend_for_history([999_999], k=3)
    counts = np.asarray(data.matrix.sum(axis=0)).ravel()
    assert [rec.score for rec in cold] == sorted(counts, reverse=True)[:3]


def test_weights_shift_the_recommendation() -> None:
    trained = train(_catalogue_interactions("int"), ModelConfig("ease", {"lam": 5.0}))
    cluster_zero, cluster_three = 1000, 1030
    favoured = trained.recommend_for_history([cluster_zero, cluster_three], k=1, weights=[1.0, 0.1])
    assert favoured[0].item_id in range(1000, 1010)
    favoured = trained.recommend_for_history([cluster_zero, cluster_three], k=1, weights=[0.1, 1.0])
    assert favoured[0].item_id in range(1030, 1040)
    with pytest.raises(ValueError, match="length"):
        trained.recommend_for_history([cluster_zero], weights=[1.0, 2.0])


def test_trained_recommender_checks_its_ids() -> None:
    model = ModelConfig("popularity").build().fit(clustered_matrix(n_items=40))
    with pytest.raises(ValueError, match="item ids for a model"):
        TrainedRecommender(model, np.arange(39))
    with pytest.raises(ValueError, match="unique"):
        TrainedRecommender(model, np.zeros(40, np.int64))
    with pytest.raises(ValueError, match="integers or strings"):
        TrainedRecommender(model, np.linspace(0, 1, 40))
