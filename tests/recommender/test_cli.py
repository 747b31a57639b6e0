from __future__ import annotations

import json
from pathlib import Path

import pytest

from qoe.cli import main
from recommender.store import load_current
from tests.factories.recommender import write_ratings

KEYS = {"popularity", "itemknn", "ease", "production"}
METRICS = {"recall@10", "ndcg@10", "hr@10"}


def test_evaluate_json_has_exactly_the_promised_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    assert main(["recommender", "evaluate", "--ratings", str(ratings), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == KEYS
    for name, metrics in report.items():
        assert set(metrics) == METRICS, name
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    # the clustered factory data are easy for co-occurrence models, hard for popularity
    assert report["ease"]["ndcg@10"] > report["popularity"]["ndcg@10"]


def test_evaluate_same_seed_same_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    outputs = []
    for _ in range(2):
        main(["recommender", "evaluate", "--ratings", str(ratings), "--json", "--seed", "3"])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_evaluate_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    assert main(["recommender", "evaluate", "--ratings", str(ratings)]) == 0
    out = capsys.readouterr().out
    for text in ("Recall@10", "NDCG@10", "HR@10", "popularity", "itemknn", "ease", "production"):
        assert text in out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        ("", [], "empty"),
        ("userId,movieId,stars,timestamp\n1,2,4,5\n", [], "missing column(s) rating"),
        ("userId,movieId,rating,timestamp\n1,2,3,4\n1,3,2,5\n", [], "no rating is ≥ 4"),
        ("userId,movieId,rating,timestamp\n1,2,5,4\n2,3,5,5\n", [], "no user has 2 or more ratings ≥ 4"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, args: list[str], message: str
) -> None:
    path = tmp_path / "ratings.csv"
    if content is not None:
        path.write_text(content)
    assert main(["recommender", "evaluate", "--ratings", str(path), "--json", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], captured.err


def test_train_swaps_a_model_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    models = tmp_path / "models"
    assert main(["recommender", "train", "--ratings", str(ratings), "--models-dir", str(models)]) == 0
    trained = load_current(models)
    assert trained.info["selection"]["chosen"] == trained.config.to_json()
    assert len(trained.recommend_for_history([100, 101], k=3)) == 3
    assert "is now current" in capsys.readouterr().err


def test_a_negative_seed_is_refused_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["recommender", "evaluate", "--ratings", str(ratings), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "non-negative" in capsys.readouterr().err
