"""Subcommands of this package (registered by qoe.cli): ``qoe recommender evaluate|train``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qoe.settings import Settings

if TYPE_CHECKING:
    from recommender.evaluate import EvaluationReport, ProgressCallback

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    """Add this package's subcommands to ``qoe``."""
    group = subparsers.add_parser("recommender", help="recommendation models: offline evaluation and training")
    commands = group.add_subparsers(dest="recommender_command", required=True, metavar="ACTION")

    evaluate = commands.add_parser(
        "evaluate", help="Recall/NDCG/HR@10 of popularity, item-kNN, EASE and the production model"
    )
    _data_arguments(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.set_defaults(handler=_evaluate)

    train = commands.add_parser("train", help="select and fit the production model on all positives, swap it in")
    _data_arguments(train)
    train.add_argument(
        "--models-dir", type=Path, default=None, help="model store root (default: <QOE_DATA_DIR>/models/recommender)"
    )
    train.set_defaults(handler=_train)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ratings",
        type=Path,
        default=None,
        help="MovieLens ratings.csv (userId,movieId,rating,timestamp); default: the bundled ml-latest-small",
    )
    parser.add_argument("--min-rating", type=float, default=4.0, help="ratings at least this are positives")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the train/test and validation splits")


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("the seed must be a non-negative integer")
    return value


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from recommender.evaluate import run_evaluation
    from recommender.movielens import MovieLensError, load_ratings

    progress_console = Console(stderr=True)
    try:
        ratings = load_ratings(args.ratings)
        with _progress(progress_console) as progress:
            report = run_evaluation(ratings, min_rating=args.min_rating, seed=args.seed, progress=progress)
    except MovieLensError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if args.json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    else:
        _print_report(Console(), report, args.ratings)
    return 0


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from recommender.evaluate import positive_interactions
    from recommender.movielens import MovieLensError, load_ratings
    from recommender.selection import select_model
    from recommender.store import ModelStoreError, swap_in
    from recommender.trained import train

    console = Console(stderr=True)
    root = args.models_dir or settings.data_dir / "models" / "recommender"
    try:
        positives = positive_interactions(load_ratings(args.ratings), args.min_rating)
        with _progress(console) as progress:
            selection = select_model(positives.matrix, seed=args.seed, on_step=lambda step: progress(step, 0, 0))
        with console.status(f"fitting {selection.chosen.label} on {positives.matrix.nnz:,} positives"):
            trained = train(positives, selection.chosen, {"selection": selection.to_json()})
        directory = swap_in(trained, root)
    except MovieLensError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except (ModelStoreError, OSError) as exc:
        return _fail(f"cannot store the model: {exc}", EXIT_FAILED)
    console.print(f"{selection.reason}\n{selection.chosen.label} is now current: {directory}", markup=False)
    return 0


def _fail(message: str, code: int) -> int:
    """One line on stderr (plain: a rich console would wrap long paths), then the exit code."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    return code


@contextlib.contextmanager
def _progress(console: Any) -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, driven by (description, done, total) callbacks."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("preparing", total=None)

        def update(description: str, done: int, total: int) -> None:
            if total:
                bar.update(task, description=description, completed=done, total=total)
            else:
                bar.update(task, description=description, advance=1)

        yield update


def _print_report(console: Any, report: EvaluationReport, ratings: Path | None) -> None:
    from rich.table import Table

    from recommender.evaluate import PRODUCTION, REFERENCE_MODELS
    from recommender.movielens import CITATION

    data = report.dataset
    table = Table(
        title=f"Top-10 ranking on {ratings or 'bundled ml-latest-small'}",
        caption=(
            f"{data['evaluated_users']} users evaluated, {data['items']} items, "
            f"{data['train_positives']} train / {data['test_positives']} test positives "
            f"(rating ≥ {data['min_rating']:g})"
        ),
    )
    for column in ("model", "config", "Recall@10", "NDCG@10", "HR@10"):
        table.add_column(column, justify="left" if column in ("model", "config") else "right")
    for name, metrics in report.metrics.items():
        config = report.production if name == PRODUCTION else REFERENCE_MODELS[name]
        style = "bold" if name == PRODUCTION else None
        values = (f"{metrics.recall:.3f}", f"{metrics.ndcg:.3f}", f"{metrics.hit_rate:.3f}")
        table.add_row(name, config.label, *values, style=style)
    console.print(table)
    console.print(f"production: {report.selection.reason}", markup=False)
    if ratings is None:
        console.print(f"MovieLens data: {CITATION}", markup=False, style="dim")
