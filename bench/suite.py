"""``qoe bench``: run every benchmark and write BENCHMARKS.md.

A benchmark module exposes ``run(settings) -> list[BenchRow]``; :data:`BENCHMARKS` lists them in
report order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench import abuse, closed_loop, delivery, ingest, recommender, scoring, sessionizer, simulator, stats_api, streams
from bench.report import BenchRow, machine_description, render_markdown
from foundation.settings import Settings

BENCHMARKS: tuple[ModuleType, ...] = (
    ingest,
    abuse,
    streams,
    scoring,
    sessionizer,
    stats_api,
    delivery,
    closed_loop,
    simulator,
    recommender,
)


def benchmark_name(module: ModuleType) -> str:
    """``--only`` matches this: the module's name inside :mod:`bench`, e.g. ``sessionizer``."""
    return module.__name__.removeprefix("bench.")


def run_all(settings: Settings, only: Sequence[str] = (), out: Path | None = None) -> list[BenchRow]:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    rows: list[BenchRow] = []
    for module in BENCHMARKS:
        if only and not any(key in benchmark_name(module) for key in only):
            continue
        rows.extend(module.run(settings))
    if out is not None:
        out.write_text(render_markdown(rows, machine_description(), started, time.monotonic() - t0))
    return rows
