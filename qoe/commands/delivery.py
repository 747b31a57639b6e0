"""Subcommands of this package (registered by qoe.cli)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console


def register(subparsers: Any) -> None:
    """Add this package's subcommands to ``qoe``."""
    _register_steering(subparsers)
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

    from evaluation.autoscaling.evaluate import evaluate
    from evaluation.autoscaling.scenario import csv_scenario, synthetic_scenario

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
    from rich.table import Table

    console = _console()
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


# --- qoe steering ---------------------------------------------------------------------------------


def _register_steering(subparsers: Any) -> None:
    steering = subparsers.add_parser("steering", help="content steering: evaluate the policy on the simulator")
    commands = steering.add_subparsers(dest="steering_command", required=True, metavar="COMMAND")
    evaluate = commands.add_parser(
        "evaluate",
        help="trace-driven simulation in virtual time: static, random, round-robin, ours and an oracle",
        description=(
            "Runs the same simulated audience (same seed) under each CDN policy and prints rebuffering ratio, "
            "VST p50, average bitrate, mean per-view QoE score and oracle_gain_share = (policy − static) ÷ "
            "(oracle − static) of the QoE. 'ours' is the real steering service fed by the live-score fold of "
            "the players' beacons."
        ),
    )
    evaluate.add_argument(
        "--traces", type=Path, help="trace directory: Sabre JSON or Pensieve text (default: <shared_data>/traces)"
    )
    evaluate.add_argument("--manifests", type=Path, help="Sabre manifest directory (default: <shared_data>/manifests)")
    evaluate.add_argument("--viewers", type=_positive_int, default=1000, help="concurrent viewers (default 1000)")
    evaluate.add_argument("--duration", default="10m", help="simulated time: 600, 600s, 10m (default 10m)")
    evaluate.add_argument("--cdns", type=_positive_int, default=3, help="number of CDNs, cdn-a… (default 3)")
    evaluate.add_argument(
        "--incident",
        action="append",
        default=None,
        metavar="SPEC",
        help="CDN[@ZONE|@COUNTRY]:KIND[=SEVERITY]:START-END, repeatable "
        f"(default: one CDN degraded mid-run, {DEFAULT_INCIDENT_HELP}); 'none' for no incident",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="workload seed, the same for every policy (default 0)")
    evaluate.add_argument("--policies", default="static,random,round_robin,ours,oracle", help="comma-separated")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(handler=_steering_evaluate)


DEFAULT_INCIDENT_HELP = "cdn-a:degrade=0.1:240s-600s"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _steering_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from qoe_sim.manifest import ManifestError
    from qoe_sim.network import IncidentError, parse_duration_ms
    from qoe_sim.traces import TraceError

    from evaluation.steering.evaluate import EvaluationConfig, check_policies, evaluate, evaluation_data, input_dirs

    traces, manifests = input_dirs(settings.resolved_shared_data(), args.traces, args.manifests)
    if traces is None:
        print("qoe steering evaluate: no research data here: pass --traces DIR", file=sys.stderr)
        return 2
    incidents = tuple(args.incident) if args.incident is not None else (DEFAULT_INCIDENT_HELP,)
    incidents = tuple(spec for spec in incidents if spec != "none")
    try:
        config = EvaluationConfig(
            viewers=args.viewers,
            duration_s=parse_duration_ms(args.duration) / 1000,
            cdns=args.cdns,
            incidents=incidents,
            seed=args.seed,
        )
        policies = check_policies([p.strip() for p in args.policies.split(",") if p.strip()])
        data = evaluation_data(traces, manifests, args.seed)
        result = evaluate(config, data, policies)
    except (IncidentError, TraceError, ManifestError, ValueError) as exc:
        print(f"qoe steering evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    else:
        _print_steering(result)
    return 0


def _print_steering(result: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    setup = result["setup"]
    console.print(
        f"{setup['viewers']:,} viewers, {setup['duration_s']:.0f} s, CDNs {', '.join(setup['cdns'])}, "
        f"incidents {', '.join(setup['incidents']) or 'none'}, seed {setup['seed']}; {setup['data']}"
    )
    table = Table("policy", "rebuffering ratio", "VST p50", "average bitrate", "QoE score", "oracle_gain_share")
    for name, figures in result["policies"].items():
        bitrate = figures["avg_bitrate_kbps"]
        share = figures["oracle_gain_share"]
        table.add_row(
            name,
            f"{figures['rebuffer_ratio']:.3%}",
            _ms(figures["vst_p50_ms"]),
            "–" if bitrate is None else f"{bitrate:,.0f} kb/s",
            f"{figures['qoe_score']:.2f}",
            "–" if share is None else f"{share:.2f}",
        )
    console.print(table)


def _console() -> Console:
    """Tables stay whole when the output goes to a file (rich assumes 80 columns there)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"
