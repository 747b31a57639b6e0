"""Subcommands of this package (registered by qoe.cli)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qoe.settings import Settings


def register(subparsers: Any) -> None:
    """Add this package's subcommands to ``qoe``."""
    autoscaling = subparsers.add_parser("autoscaling", help="autoscaling signals: evaluate the forecaster")
    commands = autoscaling.add_subparsers(dest="autoscaling_command", required=True, metavar="COMMAND")
    evaluate = commands.add_parser(
        "evaluate",
        help="replay a diurnal day with a live-event flash crowd: ours versus a reactive HPA",
        description=(
            "Replays per-minute demand (synthetic by default, or --csv) through a model of the Kubernetes "
            "HPA and prints, for our signal and for a reactive CPU-utilisation HPA, the lead time before the "
            "flash-crowd peak, under-provisioned minutes and over-provisioned replica-minutes."
        ),
    )
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenario (default 0)")
    evaluate.add_argument("--csv", type=Path, help="per-minute demand: minute,concurrency[,egress_bps][,region]")
    evaluate.add_argument("--region", help="region to read from a multi-region CSV (default: the first)")
    evaluate.add_argument("--event-start", type=_utc_datetime, help="CSV only: start of the live event (ISO 8601)")
    evaluate.add_argument("--event-peak", type=float, help="CSV only: the schedule's expected extra viewers")
    evaluate.add_argument(
        "--bitrate-kbps", type=float, default=4500.0, help="CSV without egress_bps: mean bitrate per viewer"
    )
    evaluate.set_defaults(handler=_evaluate)


def _utc_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from delivery.autoscaling.evaluate import evaluate
    from delivery.autoscaling.scenario import csv_scenario, synthetic_scenario

    if args.csv is None and (args.event_start or args.event_peak is not None or args.region):
        print("qoe autoscaling evaluate: --event-start, --event-peak and --region need --csv", file=sys.stderr)
        return 2
    if args.event_peak is not None and args.event_start is None:
        print("qoe autoscaling evaluate: --event-peak needs --event-start", file=sys.stderr)
        return 2
    try:
        if args.csv is not None:
            scenario = csv_scenario(
                args.csv,
                region=args.region,
                bitrate_kbps=args.bitrate_kbps,
                event_start=args.event_start,
                event_expected_peak=args.event_peak,
            )
        else:
            scenario = synthetic_scenario(args.seed)
    except ValueError as exc:
        print(f"qoe autoscaling evaluate: {exc}", file=sys.stderr)
        return 2
    result = evaluate(scenario)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_table(result)
    return 0


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(result["scenario"]["description"])
    console.print(f"flash-crowd peak at {result['scenario']['peak_at']}")
    table = Table("variant", "lead time before peak", "under-provisioned", "over-provisioned")
    for name, outcome in result.items():
        if not isinstance(outcome, dict) or "under_minutes" not in outcome:
            continue
        lead = outcome["lead_time_s"]
        table.add_row(
            name,
            "never reached" if lead is None else f"{lead:.0f} s",
            f"{outcome['under_minutes']:.2f} min",
            f"{outcome['over_replica_minutes']:,.0f} replica-min",
        )
    console.print(table)
    goals = {name: "met" if met else "NOT met" for name, met in result["goals"].items()}
    console.print(
        f"lead time ≥ 60 s: {goals['lead_time_at_least_60s']}; "
        f"under-provisioned ≤ 50 % of reactive: {goals['under_minutes_at_most_half_of_reactive']}"
    )
    console.print(f"assumptions: {result['assumptions']}")
