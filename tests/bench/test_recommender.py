from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

from bench import recommender as bench
from foundation.settings import Settings
from recommender.interactions import Interactions, history_row
from recommender.models import ModelConfig
from recommender.movielens import bundled_dir
from recommender.trained import train
from tests.factories.recommender import ratings_frame


def test_synthetic_audience_scales_up_with_the_same_item_popularity() -> None:
    ratings = ratings_frame(n_users=60, n_items=30, seed=4)
    audience = bench.synthetic_audience(ratings, target=5_000, seed=0)
    assert audience.matrix.nnz >= 5_000
    assert audience.item_ids.tolist() == sorted(ratings["movieId"].unique())
    real = ratings["movieId"].value_counts().reindex(audience.item_ids).to_numpy()
    synthetic = np.bincount(audience.matrix.indices, minlength=audience.n_items)
    assert spearmanr(real, synthetic).statistic > 0.8
    # weights 1 or 0.25 per interaction; a movie drawn again for the same viewer adds up
    assert np.all(np.mod(audience.matrix.data * 4, 1) == 0) and audience.matrix.data.min() >= 0.25


@pytest.mark.parametrize(
    "config",
    [ModelConfig("ease", {"lam": 2.0}), ModelConfig("itemknn", {"k": 4}), ModelConfig("popularity")],
    ids=lambda c: c.kind,
)
def test_textbook_baseline_computes_the_same_scores(config: ModelConfig) -> None:
    rng = np.random.default_rng(0)
    weights = rng.random((40, 12)) * (rng.random((40, 12)) < 0.4)  # continuous weights: no ties
    matrix = sp.csr_array(weights.astype(np.float32))
    model = config.build().fit(matrix)
    textbook = bench.textbook_fit(config, matrix)
    history = np.zeros(12)
    history[[1, 5]] = 1.0
    np.testing.assert_allclose(textbook(history), model.score(history_row([1, 5], 12))[0], rtol=1e-4, atol=1e-5)


def test_latency_measures_one_timing_per_request() -> None:
    ratings = ratings_frame()
    audience = bench.synthetic_audience(ratings, target=1_000)
    trained = train(audience, ModelConfig("ease", {"lam": 5.0}))
    histories = bench._sample_histories(audience, 25, seed=0)
    assert len(bench.serving_latencies_ms(trained, histories)) == 25
    scorer = bench.textbook_fit(trained.config, audience.matrix)
    assert np.all(bench.textbook_latencies_ms(scorer, audience, histories) > 0)


def test_run_reports_training_and_latency_against_baselines(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real run resamples ml-latest-small to 1M interactions (about a minute); same code on small data.
    monkeypatch.setattr(bench, "load_ratings", lambda: ratings_frame())
    monkeypatch.setattr(bench, "TARGET_INTERACTIONS", 3_000)
    monkeypatch.setattr(bench, "REQUESTS", 50)
    if bundled_dir() is None:
        pytest.skip("bundled ml-latest-small absent: the benchmark has nothing to run")
    rows = bench.training_and_latency_rows(Settings(_env_file=None))
    assert [row.unit for row in rows] == ["s", "ms", "ms"]
    assert all(row.baseline is not None and row.baseline > 0 and row.value > 0 for row in rows)
    assert rows[0].passed is not None and rows[1].passed is not None
    assert "interactions" in rows[0].notes


def test_interactions_of_the_audience_are_valid_training_input() -> None:
    audience = bench.synthetic_audience(ratings_frame(), target=2_000)
    assert isinstance(audience, Interactions)
    assert audience.matrix.dtype == np.float32 and (audience.matrix.data > 0).all()


def test_online_row_compares_the_production_model_with_popularity(monkeypatch: pytest.MonkeyPatch) -> None:
    if bundled_dir() is None:
        pytest.skip("bundled ml-latest-small absent")
    monkeypatch.setattr(bench, "ONLINE_VIEWERS", 20)
    monkeypatch.setattr(bench, "ONLINE_HOURS", 1.0)
    (row,) = bench.online_rows(Settings(_env_file=None))
    assert row.metric.startswith("online HR@10") and 0 <= row.value <= 1
    assert row.baseline is not None and row.passed == (row.value > row.baseline)
    assert "20 simulated viewers" in row.notes


@pytest.mark.integration
def test_api_rows_time_recommendations_against_a_point_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if bundled_dir() is None:
        pytest.skip("bundled ml-latest-small absent")
    monkeypatch.setattr(bench, "API_SIZES", (300, 10, 20))
    p99, p50 = bench.api_rows(Settings(_env_file=None, data_dir=tmp_path))
    assert (p99.unit, p50.unit) == ("ms", "ms")
    assert p99.value >= p50.value > 0 and p99.baseline is not None and p99.baseline > 0
    assert "3,000 views of 300 viewers" in p99.notes and "20 sequential requests" in p99.notes
