"""``qoe simulate`` (a virtual audience) and ``qoe simulate-fit`` (refit the synthetic model)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from foundation.settings import Settings

if TYPE_CHECKING:
    from qoe_sdk import SenderStats
    from qoe_sim.chooser import CdnChooser
    from qoe_sim.metrics import ViewMetrics
    from qoe_sim.simulation import SimConfig, SimData, SimResult
    from rich.console import Console

T = TypeVar("T")


def register(subparsers: Any) -> None:
    """Add this package's subcommands to ``qoe``."""
    simulate = subparsers.add_parser(
        "simulate",
        help="run a simulated audience of trace-driven players that report through the Python SDK",
        description="Virtual viewers stream over real throughput traces and report to the ingest API. "
        "With --virtual the run goes as fast as possible and prints per-view QoE instead.",
    )
    simulate.add_argument(
        "--viewers", type=int, default=None, help="concurrent viewers (default: QOE_AUDIENCE_VIEWERS)"
    )
    simulate.add_argument("--duration", default="300s", help="how long: 90, 300s, 10m, 2h; 0 runs until interrupted")
    simulate.add_argument("--ingest-url", default=None, help="base URL of the ingest API (default: the gateway)")
    simulate.add_argument("--seed", type=int, default=None, help="workload seed (default: QOE_SEED)")
    simulate.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="SPEC",
        help="CDN[@ZONE|@COUNTRY]:KIND[=SEVERITY]:START-END, e.g. cdn-b:degrade:60s-180s; "
        "kinds: degrade, outage, latency, errors (repeatable)",
    )
    simulate.add_argument("--traces", type=Path, default=None, help="trace directory (default: <shared_data>/traces)")
    simulate.add_argument(
        "--manifests", type=Path, default=None, help="manifest directory (default: <shared_data>/manifests)"
    )
    simulate.add_argument("--manifest", default="bbb", help="manifest name in that directory (bbb, bbb4k)")
    simulate.add_argument("--synthetic", action="store_true", help="use the fitted synthetic model even if data exists")
    simulate.add_argument("--cdns", default="cdn-a,cdn-b,cdn-c", help="comma-separated CDN names")
    simulate.add_argument("--fallback", action="store_true", help="players fall back to the other CDNs on failures")
    simulate.add_argument(
        "--steering-url",
        default=None,
        help="base URL of the steering service (the gateway): players follow its content steering manifests",
    )
    simulate.add_argument("--abr", choices=("throughput", "buffer"), default="throughput")
    simulate.add_argument("--ramp", default="30s", help="spread the first play intents over this long")
    simulate.add_argument("--sample-rate", type=float, default=1.0, help="share of viewers that report")
    simulate.add_argument("--experiment", default="", help="label reported in every view's context")
    simulate.add_argument(
        "--property-key", default=None, help="the property key every viewer posts with (qoe properties create)"
    )
    simulate.add_argument("--virtual", action="store_true", help="virtual time, no sending: print per-view QoE")
    simulate.add_argument("--metrics-out", type=Path, help="write per-view metrics (.csv or .jsonl)")
    simulate.add_argument("--beacons-out", type=Path, help="with --virtual: write every beacon as JSON lines")
    simulate.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight at most")
    simulate.add_argument("--http-client", choices=("aiohttp", "httpx"), default="aiohttp")
    simulate.add_argument("--quiet", action="store_true", help="no live progress display")
    simulate.set_defaults(handler=_simulate)

    fit = subparsers.add_parser(
        "simulate-fit",
        help="refit the simulator's synthetic link and segment-size model to the traces and a manifest",
    )
    fit.add_argument("--traces", type=Path, default=None, help="default: <shared_data>/traces")
    fit.add_argument("--manifest", type=Path, default=None, help="default: <shared_data>/manifests/bbb.json")
    fit.set_defaults(handler=_fit)


def _fail(message: str) -> int:
    print(f"qoe simulate: {message}", file=sys.stderr)
    return 2


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from qoe_sim.audience import CatalogError
    from qoe_sim.manifest import ManifestError
    from qoe_sim.network import IncidentError
    from qoe_sim.traces import TraceError

    try:
        return _run_simulation(args, settings)
    except (IncidentError, TraceError, ManifestError, CatalogError, ValueError) as exc:
        return _fail(str(exc))


def _config(args: argparse.Namespace, settings: Settings) -> SimConfig:
    from qoe_sim.network import parse_duration_ms, parse_incident
    from qoe_sim.player import PlayerConfig
    from qoe_sim.simulation import SimConfig

    cdns = tuple(c.strip() for c in args.cdns.split(",") if c.strip())
    duration = parse_duration_ms(args.duration)
    if not 0 <= args.sample_rate <= 1:
        raise ValueError("--sample-rate must be in [0, 1]")
    return SimConfig(
        viewers=args.viewers if args.viewers is not None else settings.audience_viewers,
        duration_ms=duration or None,
        seed=args.seed if args.seed is not None else settings.seed,
        ramp_ms=parse_duration_ms(args.ramp),
        cdns=cdns,
        incidents=tuple(parse_incident(spec, cdns) for spec in args.incident),
        player=PlayerConfig(abr=args.abr),
        sample_rate=args.sample_rate,
        experiment=args.experiment,
        property_key=args.property_key,
        keep_views=None if args.virtual or args.metrics_out else 10_000,
    )


def _run_simulation(args: argparse.Namespace, settings: Settings) -> int:
    from qoe_sim.chooser import StaticChooser
    from qoe_sim.run import resolve_data
    from rich.console import Console

    config = _config(args, settings)
    if args.virtual and config.duration_ms is None:
        raise ValueError("--virtual needs a finite --duration")
    if args.beacons_out and not args.virtual:
        raise ValueError("--beacons-out needs --virtual (live runs send their beacons to the ingest URL)")
    if args.steering_url and args.virtual:
        raise ValueError("--steering-url needs a live run: the steering service answers in real time, not --virtual")
    if args.synthetic and (args.traces or args.manifests):
        raise ValueError("--synthetic cannot be combined with --traces or --manifests")
    console = Console(stderr=True)
    data = resolve_data(
        settings,
        traces=args.traces,
        manifests=args.manifests,
        synthetic=args.synthetic,
        manifest_name=args.manifest,
        seed=config.seed,
    )
    console.print(f"[bold]{config.viewers:,} viewers[/bold], seed {config.seed}: {data.description}")
    chooser: CdnChooser = StaticChooser.uniform(config.cdns, fallback=args.fallback)
    if args.steering_url:
        from qoe_sim.steering_client import steering_chooser

        chooser = steering_chooser(args.steering_url, config.cdns)
        console.print(f"players follow the content steering of {args.steering_url}")
    if args.virtual:
        result = _run_virtual(args, config, data, chooser, console)
    else:
        result = _run_realtime(args, settings, config, data, chooser, console)
    # The results go to stdout, wide enough for the table when it is redirected to a file.
    _report(result.views, Console(width=None if sys.stdout.isatty() else 160))
    if args.metrics_out:
        _write_metrics(result.views, args.metrics_out)
        console.print(f"per-view metrics written to {args.metrics_out}")
    return 0


def _run_virtual(
    args: argparse.Namespace, config: SimConfig, data: SimData, chooser: CdnChooser, console: Console
) -> SimResult:
    import orjson
    from qoe_sim.progress import ProgressDisplay
    from qoe_sim.simulation import Simulation

    simulation = Simulation(config, data, chooser=chooser, keep_beacons=args.beacons_out is not None)
    if args.quiet or not console.is_terminal:
        result = simulation.run_virtual()
    else:
        with ProgressDisplay(console, title="qoe simulate --virtual") as display:
            result = simulation.run_virtual(progress=display.update)
            display.update(simulation.snapshot())
    console.print(
        f"{result.sim_ms / 1000:,.0f} s simulated in {result.wall_s:,.1f} s ({result.speedup:,.0f}× real time), "
        f"{result.sdk.events_recorded:,} events in {result.sdk.beacons_built:,} beacons"
    )
    if args.beacons_out and simulation.memory_sink is not None:
        with args.beacons_out.open("wb") as out:
            for payload in simulation.memory_sink.payloads:
                out.write(orjson.dumps(payload) + b"\n")
        console.print(f"beacons written to {args.beacons_out}")
    return result


def _run_realtime(
    args: argparse.Namespace,
    settings: Settings,
    config: SimConfig,
    data: SimData,
    chooser: CdnChooser,
    console: Console,
) -> SimResult:
    import asyncio
    import contextlib
    import signal

    from qoe_sim.progress import ProgressDisplay
    from qoe_sim.run import default_ingest_url, run_live

    url = args.ingest_url or default_ingest_url(settings)
    console.print(f"sending to {url}/v1/beacons" + ("" if config.duration_ms else " until interrupted"))

    async def main() -> tuple[SimResult, SenderStats]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        display = None if args.quiet or not console.is_terminal else ProgressDisplay(console)

        with display if display is not None else contextlib.nullcontext():
            return await run_live(
                config,
                data,
                url,
                chooser=chooser,
                stop=stop,
                concurrency=args.concurrency,
                http_client=args.http_client,
                progress=None if display is None else display.update,
                on_sender=None if display is None else display.attach,
            )

    async def main_then_close() -> tuple[SimResult, SenderStats]:
        try:
            return await main()
        finally:
            await _close_chooser(chooser)

    result, sent = _event_loop_run(main_then_close)
    console.print(
        f"{result.wall_s:,.0f} s: {sent.beacons_sent:,} beacons ({sent.events_sent:,} events) accepted, "
        f"{sent.beacons_rejected:,} refused, {sent.beacons_dropped:,} lost; scheduling lag p99 "
        f"{result.lag.quantile_ms(0.99) if result.lag else 0:,.0f} ms"
    )
    if sent.stopped:
        console.print("[yellow]the server answered 410 Gone: reporting stopped[/yellow]")
    return result


async def _close_chooser(chooser: CdnChooser) -> None:
    """Choosers that hold connections (the HTTP steering client) close them on the loop they used."""
    close = getattr(chooser, "close", None)
    if close is not None:
        await close()


def _event_loop_run(main: Callable[[], Awaitable[T]]) -> T:
    """Run on uvloop where installed (uvicorn[standard] brings it): a cheaper loop for thousands of timers."""
    import asyncio

    try:
        import uvloop

    except ImportError:
        return asyncio.run(_coroutine(main))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_coroutine(main))


async def _coroutine(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


def _report(views: Sequence[ViewMetrics], console: Console) -> None:
    from qoe_sim.summary import summarize, summarize_by
    from rich.table import Table

    table = Table(title="QoE by CDN at view start (VST in ms, bitrate in kb/s)")
    for column in ("CDN", "attempts", "plays", "VST p50", "VST p95", "EBVS", "VSF", "VPF", "business",
                   "rebuffer", "stalls/play", "bitrate", "switches/play"):  # fmt: skip
        table.add_column(column, justify="right")
    rows = {**summarize_by(views, lambda v: v.cdn), "all": summarize(views)}
    for name, s in rows.items():
        table.add_row(
            name,
            f"{s.attempts:,}",
            f"{s.plays:,}",
            _ms(s.startup_p50_ms),
            _ms(s.startup_p95_ms),
            f"{s.ebvs:.1%}",
            f"{s.vsf:.1%}",
            f"{s.vpf:.1%}",
            f"{s.business_failures:.1%}",
            f"{s.rebuffer_ratio:.2%}",
            f"{s.stalls_per_view:.2f}",
            "–" if s.avg_bitrate_kbps is None else f"{s.avg_bitrate_kbps:,.0f}",
            f"{s.switches_per_view:.1f}",
        )
    console.print(table)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _write_metrics(views: Sequence[ViewMetrics], path: Path) -> None:
    import orjson
    import pandas as pd

    rows = [view.as_row() for view in views]
    if path.suffix == ".jsonl":
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False)


def _fit(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from qoe_sim.synthetic import SEGMENT_SIZES, THROUGHPUT_MODELS, Fitted, fit
    from qoe_sim.traces import TraceError

    shared = settings.resolved_shared_data()
    traces = args.traces or (shared / "traces" if shared else None)
    manifest = args.manifest or (shared / "manifests" / "bbb.json" if shared else None)
    if traces is None or manifest is None:
        return _fail("no research data here: pass --traces DIR and --manifest FILE")
    try:
        fitted = fit(traces, manifest)
    except (TraceError, ValueError) as exc:
        return _fail(str(exc))
    print(orjson.dumps(fitted.as_dict(), option=orjson.OPT_INDENT_2).decode())
    recorded = Fitted(THROUGHPUT_MODELS, SEGMENT_SIZES)
    same = fitted.as_dict() == recorded.as_dict()
    verdict = "matches" if same else "differs from"
    print(f"this fit {verdict} the constants recorded in qoe_sim/synthetic.py", file=sys.stderr)
    return 0
