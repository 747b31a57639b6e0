"""The score's benchmark module: rows it reports, with and without the research data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scoring import run
from foundation.settings import Settings


def test_no_rows_without_research_data(tmp_path: Path) -> None:
    assert run(Settings(_env_file=None, shared_data_dir=tmp_path / "absent")) == []


@pytest.mark.shared_data
def test_cross_dataset_rows_beside_the_mux_baseline(shared_data: Path) -> None:
    rows = run(Settings(_env_file=None, shared_data_dir=shared_data))
    agreement = [row for row in rows if row.metric.startswith("SRCC")]
    assert len(agreement) == 4
    for row in agreement:
        assert row.baseline is not None and row.value > row.baseline
    assert all(row.passed for row in agreement if "default" in row.metric)
    throughput = [row for row in rows if row.unit == "views/s"]
    assert len(throughput) == 1 and throughput[0].value > 0
