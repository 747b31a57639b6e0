"""Platform-level subcommands: bench (and, as they land, up, migrate, ingest, worker, api, dashboards)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qoe.settings import Settings


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="run the benchmarks and write BENCHMARKS.md")
    bench.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    bench.add_argument("--only", action="append", default=[], help="run only benchmark modules matching this")
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from qoe.bench import run_all

    rows = run_all(settings, only=args.only, out=args.out)
    failed = [row for row in rows if row.passed is False]
    Console().print(f"{len(rows)} figures written to {args.out}; {len(failed)} below target")
    return 0
