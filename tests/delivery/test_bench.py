from __future__ import annotations

from delivery.bench import STEERING, steering_rows


def test_steering_bench_measures_beside_its_baseline() -> None:
    (row,) = steering_rows(decisions=300)
    assert row.section == STEERING
    assert row.value > 0 and row.baseline is not None and row.baseline > 0
    assert row.unit == "manifests/s"
