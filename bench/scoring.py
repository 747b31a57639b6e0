"""Benchmark of the QoE score: cross-dataset agreement with MOS, and scoring throughput.

Agreement figures are measured beside Mux's published formula on the same test set; the
throughput of one-view scoring (what the live sessionizer calls) beside the vectorised batch path.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pandas as pd

from bench.report import BenchRow
from foundation.settings import Settings

SECTION = "QoE score vs MOS (Waterloo SQoE-I/II)"
GOAL_SRCC = 0.70


def run(settings: Settings) -> list[BenchRow]:
    from evaluation.scoring.evaluate import MUX_REFERENCE, WITH_QUALITY, WITHOUT_QUALITY, cross_dataset
    from evaluation.scoring.waterloo import read_waterloo

    shared = settings.resolved_shared_data()
    if shared is None:
        return []
    sets = {name: read_waterloo(shared / "waterloo-sqoe" / name) for name in ("sqoe-1", "sqoe-2")}
    rows: list[BenchRow] = []
    for train, test in (("sqoe-1", "sqoe-2"), ("sqoe-2", "sqoe-1")):
        results = cross_dataset(sets[train], sets[test])
        mux = results[MUX_REFERENCE].srcc
        for variant, label in ((WITH_QUALITY, "with VMAF (default)"), (WITHOUT_QUALITY, "without VMAF")):
            value = results[variant].srcc
            if value is None:
                continue
            default = variant == WITH_QUALITY
            rows.append(
                BenchRow(
                    section=SECTION,
                    metric=f"SRCC, fit {train} → test {test}, {label}",
                    value=value,
                    unit="",
                    baseline=mux,
                    baseline_label="Mux published formula",
                    target=f"≥ {GOAL_SRCC}" if default else "",
                    passed=value >= GOAL_SRCC if default else None,
                    notes=f"n = {results[variant].n}",
                )
            )
    rows.append(_throughput(sets["sqoe-2"].views))
    return rows


def _throughput(views: pd.DataFrame) -> BenchRow:
    """Views per second scored one at a time (as the sessionizer does) vs in one DataFrame."""
    from streams.scoring.score import ViewQoE, score_sessions, score_view

    records = [
        ViewQoE(**{f.name: _plain(row[f.name]) for f in dataclasses.fields(ViewQoE)}) for _, row in views.iterrows()
    ]
    started = time.perf_counter()
    for record in records:
        score_view(record)
    one_at_a_time = len(records) / (time.perf_counter() - started)
    batch = pd.concat([views] * 50, ignore_index=True)
    started = time.perf_counter()
    score_sessions(batch)
    vectorised = len(batch) / (time.perf_counter() - started)
    return BenchRow(
        section=SECTION,
        metric="score_view throughput (one view per call)",
        value=one_at_a_time,
        unit="views/s",
        baseline=vectorised,
        baseline_label="score_sessions, vectorised",
        notes=f"{len(records)} views one by one; {len(batch)} in one DataFrame",
    )


def _plain(value: Any) -> Any:
    """pandas scalars → Python ones (NaN → None), as a live record would carry them."""
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value
