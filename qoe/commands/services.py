"""Platform-level subcommands: up, migrate, ingest, worker, api, dashboards and bench."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.errors import UsageError
from foundation.process import freeze_startup_objects
from foundation.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ingest.demo import MediaBuild
    from ingest.producer import RecordSink


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="run the whole platform on embedded defaults")
    up.add_argument("--no-audience", action="store_true", help="start no simulated audience")
    up.add_argument("--viewers", type=int, help="concurrent simulated viewers (default QOE_AUDIENCE_VIEWERS)")
    up.add_argument("--incident", action="append", default=[], help="inject an incident, e.g. cdn-b:degrade:60s-180s")
    up.set_defaults(handler=_up)

    subparsers.add_parser("migrate", help="apply pending warehouse migrations").set_defaults(handler=_migrate)
    ingest = subparsers.add_parser("ingest", help="run the ingest gateway on QOE_API_PORT")
    ingest.add_argument(
        "--demo-media",
        choices=("start", "lazy", "off"),
        default="lazy",
        help="build the demo's Big Buck Bunny ladder at start, on the first /demo or /media request, or never",
    )
    ingest.set_defaults(handler=_ingest)

    worker = subparsers.add_parser("worker", help="run the Faust stream worker")
    worker.add_argument("--api", action="store_true", help="also serve the warehouse API (embedded warehouse)")
    worker.add_argument("--dashboards", action="store_true", help="also serve the dashboards (embedded warehouse)")
    worker.set_defaults(handler=_worker)

    subparsers.add_parser("api", help="run the warehouse-side API alone").set_defaults(handler=_api)
    subparsers.add_parser("dashboards", help="run the dashboards alone").set_defaults(handler=_dashboards)

    bench = subparsers.add_parser("bench", help="run the benchmarks and write BENCHMARKS.md")
    bench.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    bench.add_argument("--only", action="append", default=[], help="run only benchmark modules matching this")
    bench.set_defaults(handler=_bench)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("kafka", "aiokafka", "httpx", "werkzeug", "faust", "mode"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def require_bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise UsageError("set QOE_KAFKA_BOOTSTRAP to your Kafka brokers, or use `qoe up` to start an embedded one")
    return settings.kafka_bootstrap


def require_server_warehouse(settings: Settings, command: str) -> None:
    if settings.embedded_warehouse:
        raise UsageError(
            f"`qoe {command}` alone needs a ClickHouse server (QOE_CLICKHOUSE_URL): the embedded warehouse opens in "
            f"one process only, so run `qoe worker --{command}` instead"
        )


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from qoe.up import UpOptions, run_up

    options = UpOptions(audience=not args.no_audience, viewers=args.viewers, incidents=tuple(args.incident))
    return run_up(settings, options)


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    from warehouse.client import connect
    from warehouse.migrations import migrate

    # Unbounded: a migration may backfill with INSERT … SELECT, which the read bounds would cut.
    applied = migrate(connect(settings, bounded=False), settings)
    print("\n".join(f"applied {m.version:04d}_{m.name}" for m in applied) or "nothing to apply")
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ingest.app import BeaconFastPath
    from ingest.producer import KafkaRecordSink

    _logging()
    sink = KafkaRecordSink(settings, require_bootstrap(settings))
    server = BeaconFastPath(gateway_app(settings, sink, require_bootstrap(settings), args.demo_media))
    freeze_startup_objects()
    # The peer address is the client: only QOE_TRUSTED_PROXIES decides whose forwarded headers count.
    uvicorn.run(
        server, host=settings.host, port=settings.api_port, log_level="warning", access_log=False, proxy_headers=False
    )
    return 0


def gateway_app(settings: Settings, sink: RecordSink, bootstrap: str, demo_media: MediaBuild = "lazy") -> FastAPI:
    """The gateway as ``qoe ingest`` serves it: ingest, the demo, delivery, and the proxy to the warehouse API."""
    from delivery.gateway import mount_delivery
    from ingest.app import create_app
    from ingest.cors import parse_origins
    from ingest.demo import MediaLadder, mount_demo
    from ingest.media import default_media_dir
    from qoe.api import warehouse_routes

    app = create_app(
        settings,
        sink,
        upstream=settings.resolved_internal_api_url(),
        upstream_routes=warehouse_routes(),  # the gateway forwards only what the warehouse API serves
        cors_origins=parse_origins(settings.cors_allow_origins),
        cmcd_enabled=settings.cmcd_enabled,
        require_tokens=True,  # every route but the public ones needs a token the warehouse API vouches for
    )
    mount_demo(app, MediaLadder(default_media_dir(settings), demo_media, retry_after_s=settings.retry_after_s))
    mount_delivery(app, settings, bootstrap)
    return app


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from qoe.host import run_host

    _logging()
    return run_host(settings, require_bootstrap(settings), api=args.api, dashboards=args.dashboards)


def _api(_: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from qoe.api import create_api
    from warehouse.client import connect

    require_server_warehouse(settings, "api")
    app = create_api(settings, connect(settings))
    freeze_startup_objects()
    uvicorn.run(app, host=settings.host, port=settings.internal_api_port, log_level="warning")
    return 0


def _dashboards(_: argparse.Namespace, settings: Settings) -> int:
    from dashboards.app import create_dashboards
    from dashboards.data import DashboardData
    from warehouse.client import connect

    require_server_warehouse(settings, "dashboards")
    app = create_dashboards(DashboardData(settings, lambda: connect(settings)))
    app.run(host=settings.host, port=settings.dashboards_port, debug=False)
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from bench.suite import run_all

    rows = run_all(settings, only=args.only, out=args.out)
    failed = [row for row in rows if row.passed is False]
    Console().print(f"{len(rows)} figures written to {args.out}; {len(failed)} below target")
    return 0
