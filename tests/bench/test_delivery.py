from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.delivery import EVALUATION, STEERING, _goal_rows, _policy_rows, evaluation_rows, steering_rows
from foundation.settings import Settings


def test_steering_bench_measures_beside_its_baseline() -> None:
    (row,) = steering_rows(decisions=300)
    assert row.section == STEERING
    assert row.value > 0 and row.baseline is not None and row.baseline > 0
    assert row.unit == "manifests/s"


def _figures(rebuffer: float, qoe: float, share: float | None) -> dict[str, Any]:
    return {
        "rebuffer_ratio": rebuffer,
        "vst_p50_ms": 250.0,
        "avg_bitrate_kbps": 3000.0,
        "qoe_score": qoe,
        "oracle_gain_share": share,
    }


def _result(ours_rebuffer: float, ours_share: float) -> dict[str, Any]:
    policies = {
        "static": _figures(0.04, 50.0, 0.0),
        "ours": _figures(ours_rebuffer, 50.0 + 10 * ours_share, ours_share),
        "oracle": _figures(0.01, 60.0, 1.0),
    }
    setup = {"viewers": 10, "duration_s": 60.0, "cdns": ["cdn-a", "cdn-b"], "incidents": [], "seed": 0, "data": "d"}
    return {"policies": policies, "setup": setup}


def test_the_evaluation_table_has_a_row_per_policy_beside_static() -> None:
    rows = _policy_rows(_result(0.02, 0.5))
    assert [row.metric for row in rows] == [f"{p}: rebuffering ratio" for p in ("static", "ours", "oracle")]
    assert {row.section for row in rows} == {EVALUATION}
    ours = rows[1]
    assert ours.value == pytest.approx(2.0) and ours.baseline == pytest.approx(4.0) and ours.unit == "%"
    assert "oracle_gain_share 0.50" in ours.notes and "QoE score 55.00" in ours.notes
    assert "10 viewers × 60 s" in rows[0].notes


@pytest.mark.parametrize(
    ("ours_rebuffer", "share", "met"),
    [(0.02, 0.9, (True, True)), (0.03, 0.95, (False, True)), (0.01, 0.42, (True, False))],
)
def test_goal_rows_judge_the_rebuffering_cut_and_the_oracle_share(
    ours_rebuffer: float, share: float, met: tuple[bool, bool]
) -> None:
    cut, gain = _goal_rows(_result(ours_rebuffer, share)["policies"])
    assert cut.value == pytest.approx(100 * (1 - ours_rebuffer / 0.04))
    assert (cut.passed, gain.passed) == met


def test_without_traces_the_evaluation_is_left_out(settings: Settings, tmp_path: Path) -> None:
    assert evaluation_rows(settings.model_copy(update={"shared_data_dir": tmp_path / "absent"})) == []
