"""``qoe qoe-model``: evaluate, apply and refit the per-view QoE score on Waterloo-layout data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.settings import Settings

if TYPE_CHECKING:
    from streams.scoring.score import QoEParams

VARIANT_LABELS = {
    "with_quality": "our score, with per-rendition quality (VMAF)",
    "without_quality": "our score, bitrate/upscale/frame rate only",
    "mux_reference": "baseline: Mux published sub-scores",
}


class _UsageError(Exception):
    """A bad input the user can fix: reported on one line, exit code 2."""


def register(subparsers: Any) -> None:
    """Add ``qoe qoe-model`` and its subcommands."""
    model = subparsers.add_parser("qoe-model", help="evaluate, apply and refit the per-view QoE score")
    commands = model.add_subparsers(dest="qoe_model_command", required=True, metavar="SUBCOMMAND")

    evaluate = commands.add_parser("evaluate", help="PLCC/SRCC/KRCC of the score against MOS")
    _dataset_argument(evaluate)
    evaluate.add_argument("--json", action="store_true", help='print {"plcc","srcc","krcc","n"} of the default variant')
    _params_argument(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    score = commands.add_parser("score", help="write streaming_log,score for every session")
    _dataset_argument(score)
    score.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    score.add_argument("--without-quality", action="store_true", help="ignore the per-rendition quality column")
    _params_argument(score)
    score.set_defaults(handler=_score)

    fit = commands.add_parser("fit", help="refit the constants by least squares on MOS and print them")
    fit.add_argument("--dataset", type=Path, action="append", required=True, metavar="DIR", help="repeatable")
    fit.add_argument("--out", type=Path, metavar="FILE.json", help="also write the constants for --params")
    fit.add_argument("--json", action="store_true", help="print the constants as JSON")
    fit.set_defaults(handler=_fit)


def _dataset_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, required=True, metavar="DIR", help="data.csv + streaming_logs/ (Waterloo layout)"
    )


def _params_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params", type=Path, metavar="FILE.json", help="constants written by `fit --out` (default: shipped)"
    )


def _reported(handler: Any) -> Any:
    """Turn a bad input into a one-line message and exit code 2 instead of a traceback."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from evaluation.scoring.waterloo import WaterlooFormatError

        try:
            result: int = handler(args, settings)
        except (_UsageError, WaterlooFormatError, ValueError, OSError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"qoe qoe-model {args.qoe_model_command}: error: {message}", file=sys.stderr)
            return 2
        return result

    return run


def _load_params(path: Path | None) -> QoEParams:
    from streams.scoring.score import DEFAULT_PARAMS, QoEParams

    if path is None:
        return DEFAULT_PARAMS
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _UsageError(f"{path} is not JSON: {exc.msg}") from None
    if not isinstance(values, dict):
        raise _UsageError(f"{path} must hold a JSON object of constants")
    return QoEParams.from_dict(values)


@_reported
def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from evaluation.scoring.evaluate import default_variant, evaluate
    from evaluation.scoring.waterloo import read_waterloo

    dataset = read_waterloo(args.dataset)
    params = _load_params(args.params)
    results = evaluate(dataset, params)
    default = default_variant(dataset)
    if args.json:
        print(json.dumps(results[default].as_dict()))
        return 0
    source = str(args.params) if args.params else "shipped defaults"
    table = Table(title=f"{dataset.name}: {len(dataset)} sessions, constants: {source}")
    for column in ("variant", "PLCC", "SRCC", "KRCC", "n"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant, figures in results.items():
        marker = " (default)" if variant == default else ""
        row = figures.as_dict(3)
        cells = ["–" if row[key] is None else str(row[key]) for key in ("plcc", "srcc", "krcc")]
        table.add_row(VARIANT_LABELS[variant] + marker, *cells, str(figures.n))
    Console(width=120).print(table)
    return 0


@_reported
def _score(args: argparse.Namespace, settings: Settings) -> int:
    from evaluation.scoring.waterloo import read_waterloo
    from streams.scoring.score import score_sessions

    dataset = read_waterloo(args.dataset)
    scored = score_sessions(dataset.views, _load_params(args.params), use_quality=not args.without_quality)
    out = scored[["total"]].rename(columns={"total": "score"}).round(4)
    out.to_csv(args.out, index_label="streaming_log")
    print(f"wrote {len(out)} scores to {args.out}")
    return 0


@_reported
def _fit(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from evaluation.scoring.fit import fit_params, rounded
    from evaluation.scoring.waterloo import read_waterloo

    datasets = [read_waterloo(path) for path in args.dataset]
    views = pd.concat([d.views for d in datasets], keys=[d.name for d in datasets])
    mos = pd.concat([d.mos for d in datasets], keys=[d.name for d in datasets])
    result = fit_params(views, mos)
    constants = rounded(result.params).as_dict()
    if args.out is not None:
        args.out.write_text(json.dumps(constants, indent=2) + "\n")
    if args.json:
        print(json.dumps(constants))
        return 0
    print(f"fitted on {result.n} sessions of {', '.join(d.name for d in datasets)}")
    for name, value in constants.items():
        how = "fitted" if name in result.fitted else "prior (not identifiable here)" if name in result.kept else "fixed"
        print(f"  {name:<24} {value:>10g}   {how}")
    for label, rmse in (("with quality", result.rmse_with_quality), ("without quality", result.rmse_without_quality)):
        if rmse is not None:
            print(f"  RMSE vs MOS {label}: {rmse:.2f}")
    return 0
