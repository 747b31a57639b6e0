"""Subcommands of this package (registered by qoe.cli).

- ``qoe recommender train``: train the production model from the warehouse's views and swap it in
  (``--from movielens``: from MovieLens ratings instead, as phase 1 did).
- ``qoe recommender evaluate``: offline evaluation on MovieLens ratings.
- ``qoe recommender online-eval``: HR@10 against what simulated viewers watch next.
- ``qoe recommender load-catalog``: load a MovieLens ``movies.csv`` as the title catalogue.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.settings import Settings

if TYPE_CHECKING:
    from evaluation.recommender.offline import EvaluationReport, ProgressCallback

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
MIN_RATING = 4.0  # MovieLens ratings at least this are positives
LOOKBACK_DAYS = 365  # training from the views reads this many days


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

    # One training command: the platform's model from the warehouse's views, or (``--from
    # movielens``) the phase-1 model from MovieLens ratings. Both select the model by validation,
    # fit it and swap it into the same store; the flags of one source are refused with the other.
    train = commands.add_parser("train", help="train the production model from the warehouse's views, swap it in")
    train.add_argument(
        "--from",
        dest="source",
        choices=("views", "movielens"),
        default="views",
        help="train on the warehouse's views (default) or on MovieLens ratings",
    )
    train.add_argument(
        "--lookback-days", type=_at_least(1), default=None, help=f"views: days to train on ({LOOKBACK_DAYS})"
    )
    train.add_argument(
        "--ratings", type=Path, default=None, help="movielens: ratings.csv; default: the bundled ml-latest-small"
    )
    train.add_argument(
        "--min-rating", type=float, default=None, help=f"movielens: positives are rated ≥ this ({MIN_RATING:g})"
    )
    train.add_argument("--seed", type=_seed, default=0, help="seed of the validation split")
    train.add_argument(
        "--models-dir", type=Path, default=None, help="model store root (default: <QOE_DATA_DIR>/models/recommender)"
    )
    train.set_defaults(handler=_train)

    online = commands.add_parser(
        "online-eval", help="HR@k of recommendations against what simulated viewers watch next, vs popularity"
    )
    online.add_argument("--viewers", type=_at_least(10), default=300, help="simulated viewers, one MovieLens user each")
    online.add_argument("--hours", type=float, default=4.0, help="virtual hours of viewing to simulate")
    online.add_argument("--train-fraction", type=float, default=0.5, help="share of the run that trains the model")
    online.add_argument("--k", type=_at_least(1), default=10, help="recommendations per next watch")
    online.add_argument("--seed", type=_seed, default=0, help="seed of the audience and of the validation split")
    online.add_argument("--json", action="store_true", help="print the report as one JSON object")
    online.set_defaults(handler=_online_eval)

    catalog = commands.add_parser("load-catalog", help="load a MovieLens movies.csv (and links.csv) as the catalogue")
    catalog.add_argument("--movies", type=Path, default=None, help="movies.csv; default: the bundled ml-latest-small")
    catalog.add_argument("--links", type=Path, default=None, help="links.csv; default: the one next to movies.csv")
    catalog.set_defaults(handler=_load_catalog)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ratings",
        type=Path,
        default=None,
        help="MovieLens ratings.csv (userId,movieId,rating,timestamp); default: the bundled ml-latest-small",
    )
    parser.add_argument("--min-rating", type=float, default=MIN_RATING, help="ratings at least this are positives")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the train/test and validation splits")


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("the seed must be a non-negative integer")
    return value


def _at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from evaluation.recommender.offline import run_evaluation
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
    if args.source == "movielens":
        if args.lookback_days is not None:
            return _fail("--lookback-days: only when training from the views", EXIT_BAD_INPUT)
        return _train_from_ratings(args, settings)
    for flag, value in (("--ratings", args.ratings), ("--min-rating", args.min_rating)):
        if value is not None:
            return _fail(f"{flag}: only with --from movielens", EXIT_BAD_INPUT)
    return _train_from_views(args, settings)


def _train_from_ratings(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from evaluation.recommender.offline import positive_interactions
    from recommender.movielens import MovieLensError, load_ratings
    from recommender.selection import select_model
    from recommender.store import ModelStoreError, swap_in
    from recommender.trained import train

    console = Console(stderr=True)
    root = args.models_dir or settings.data_dir / "models" / "recommender"
    try:
        min_rating = MIN_RATING if args.min_rating is None else args.min_rating
        positives = positive_interactions(load_ratings(args.ratings), min_rating)
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


def _train_from_views(args: argparse.Namespace, settings: Settings) -> int:
    from clickhouse_connect.driver.exceptions import DatabaseError
    from rich.console import Console

    from foundation.access import admin_headers
    from recommender.remote import HostTrainingError, WarehouseBusyError, host_api_url, open_warehouse, train_on_host
    from recommender.retrain import NotEnoughDataError, TrainingOptions, train_from_warehouse
    from recommender.service import model_root
    from recommender.store import ModelStoreError

    console = Console(stderr=True)
    lookback_days = args.lookback_days or LOOKBACK_DAYS
    host = host_api_url(settings)
    try:
        if host is not None:
            if args.models_dir is not None:
                return _fail("--models-dir: the running platform trains into its own model store", EXIT_BAD_INPUT)
            console.print(f"the running platform holds the warehouse: training there ({host})", markup=False)
            body = {"lookback_days": lookback_days, "seed": args.seed}
            with _progress(console) as progress:
                report = train_on_host(host, body, progress, admin_headers(settings))["report"]
        else:
            client = open_warehouse(settings, "train")
            options = TrainingOptions(lookback=timedelta(days=lookback_days), seed=args.seed)
            with _progress(console) as progress:
                report = train_from_warehouse(client, args.models_dir or model_root(settings), options, progress)
            report = report.to_json()
    except (NotEnoughDataError, HostTrainingError, WarehouseBusyError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except (ModelStoreError, OSError) as exc:
        return _fail(f"cannot store the model: {exc}", EXIT_FAILED)
    except DatabaseError as exc:
        return _fail(f"cannot read the views ({exc}); has the warehouse been migrated (qoe migrate)?", EXIT_FAILED)
    console.print(
        f"{report['reason']}\n{report['config']} is now current ({report['version']}): "
        f"{report['views']:,} views ({report['impaired_views']:,} impaired), {report['viewers']:,} viewers, "
        f"{report['titles']:,} titles, {report['seconds']:.1f} s",
        markup=False,
    )
    return 0


def _online_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from evaluation.recommender.online import OnlineConfig, run_online_evaluation

    try:
        config = OnlineConfig(args.viewers, args.hours, args.train_fraction, args.k, args.seed)
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        with _progress(Console(stderr=True)) as progress:
            report = run_online_evaluation(config, settings.resolved_shared_data(), progress)
    except ValueError as exc:
        return _fail(str(exc), EXIT_FAILED)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        _print_online(Console(), report)
    return 0


def _print_online(console: Any, report: Any) -> None:
    from rich.table import Table

    from recommender.movielens import CITATION

    k = report.config.k
    table = Table(
        title=f"Online HR@{k}: recommendation before each next watch",
        caption=(
            f"{report.config.viewers} simulated viewers × {report.config.hours:g} h, first "
            f"{report.config.train_fraction:.0%} trains; {report.events:,} next watches of "
            f"{report.viewers_measured} viewers; {report.train_views:,} training views "
            f"({report.impaired_train_views:,} with impaired delivery)"
        ),
    )
    table.add_column("recommender")
    table.add_column(f"HR@{k}", justify="right")
    labels = {
        "production": f"production: {report.production}",
        "popular_segment": "popular in the viewer's region and device (cold-start rule)",
        "popular_overall": "popular overall (popularity model)",
    }
    for name, value in report.hit_rates.items():
        table.add_row(labels.get(name, name), f"{value:.4f}", style="bold" if name == "production" else None)
    console.print(table)
    console.print(f"model selection: {report.selection}", markup=False)
    console.print(f"MovieLens data: {CITATION}", markup=False, style="dim")


def _load_catalog(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.catalog import ensure_catalog, movielens_catalog
    from recommender.movielens import MovieLensError
    from recommender.remote import WarehouseBusyError, open_warehouse

    try:
        frame = movielens_catalog(args.movies, args.links)
        client = open_warehouse(settings, "load the catalogue")
        loaded = ensure_catalog(client, frame)
    except MovieLensError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except WarehouseBusyError as exc:
        return _fail(str(exc), EXIT_FAILED)
    state = "loaded" if loaded.loaded else "already in the warehouse, nothing to do"
    sys.stderr.write(f"{loaded.titles:,} titles {state} (checksum {loaded.checksum})\n")
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

    from evaluation.recommender.offline import PRODUCTION, REFERENCE_MODELS
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
