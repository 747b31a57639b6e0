"""Steering evaluation on the real traces: what we measured, asserted so that a regression fails.

Measured on this machine (500 viewers, 420 s, cdn-a's throughput × 0.1 from 150 s on, seed 0):

| policy | rebuffering | QoE | oracle_gain_share |
|---|---|---|---|
| static | 2.72 % | 49.18 | 0 |
| ours | 2.07 % | 53.62 | 0.52 |
| oracle | 1.79 % | 57.75 | 1 |

The issue's goals (≥ 50 % less rebuffering than static, ≥ 90 % of the oracle's gain) are NOT
met: see docs/steering.md §7 for why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.steering.evaluate import EvaluationConfig, evaluate, evaluation_data
from qoe.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def result(shared_data: Path) -> dict[str, Any]:
    config = EvaluationConfig(viewers=500, duration_s=420, incidents=("cdn-a:degrade=0.1:150s-420s",), seed=0)
    data = evaluation_data(shared_data / "traces", shared_data / "manifests", 0)
    return evaluate(config, data, ("static", "ours", "oracle"))


def test_ours_beats_static_and_stays_below_the_oracle(result: dict[str, Any]) -> None:
    static, ours, oracle = (result["policies"][p] for p in ("static", "ours", "oracle"))
    assert ours["qoe_score"] > static["qoe_score"] + 3.0  # measured +4.4 points
    assert ours["rebuffer_ratio"] < 0.85 * static["rebuffer_ratio"]  # measured −24 %
    assert 0.4 <= ours["oracle_gain_share"] < 1.0  # measured 0.52
    assert oracle["qoe_score"] > ours["qoe_score"]
    assert ours["vst_p50_ms"] < static["vst_p50_ms"]


def test_ours_ran_the_real_service(result: dict[str, Any]) -> None:
    steering = result["ours_steering"]
    assert steering["requests"] > 1000 and steering["priority_changes"] > 0 and steering["explored"] > 0
    assert result["setup"]["tick_s"] == 1.0 and result["setup"]["window_s"] == 30


def test_cli_json_has_every_policy_and_figure(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["steering", "evaluate", "--traces", str(shared_data / "traces"), "--viewers", "30", "--duration", "40s",
         "--incident", "cdn-b:outage:10s-30s", "--json"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["policies"]) == {"static", "random", "round_robin", "ours", "oracle"}
    for figures in out["policies"].values():
        assert {"rebuffer_ratio", "vst_p50_ms", "avg_bitrate_kbps", "qoe_score", "oracle_gain_share"} <= set(figures)
    assert out["policies"]["static"]["oracle_gain_share"] == 0.0


def test_cli_prints_one_table_with_a_row_per_policy(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["steering", "evaluate", "--traces", str(shared_data / "traces"), "--viewers", "10", "--duration", "20s"]
    assert main([*argv, "--policies", "static,oracle"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "rebuffering ratio" in line)
    assert all(column in header for column in ("VST p50", "average bitrate", "QoE score", "oracle_gain_share"))
    rows = [line for line in lines if line.strip("│ ").startswith(("static", "oracle"))]
    assert len(rows) == 2 and "0.00" in rows[0] and "1.00" in rows[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--incident", "cdn-z:degrade:1s-2s"], "unknown CDN"),
        (["--policies", "static,best"], "unknown policies"),
        (["--duration", "soon"], "not a duration"),
    ],
)
def test_cli_refuses_bad_input_with_a_reason(
    shared_data: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["steering", "evaluate", "--traces", str(shared_data / "traces"), "--viewers", "5", *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_without_data_says_what_to_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["steering", "evaluate", "--traces", str(tmp_path / "absent"), "--viewers", "5"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
