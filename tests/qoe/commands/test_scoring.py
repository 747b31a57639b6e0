"""``qoe qoe-model``: evaluate, score and fit, run through the real entrypoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evaluation.scoring.evaluate import correlations
from evaluation.scoring.waterloo import read_waterloo
from qoe.cli import main
from streams.scoring.score import DEFAULT_PARAMS, score_sessions
from tests.factories.scoring import write_waterloo_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["qoe-model", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_evaluate_json_is_the_default_variant_against_mos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_waterloo_dir(tmp_path)
    code, out, _ = run(capsys, "evaluate", "--dataset", str(root), "--json")
    assert code == 0
    figures = json.loads(out)
    assert list(figures) == ["plcc", "srcc", "krcc", "n"]
    dataset = read_waterloo(root)
    expected = correlations(
        score_sessions(dataset.views, DEFAULT_PARAMS)["total"].to_numpy(), dataset.mos.to_numpy(dtype=float)
    )
    assert figures == expected.as_dict()
    assert figures["n"] == 6
    # The sample's MOS falls with every impairment the score sees, so the ranking is right.
    assert figures["srcc"] == pytest.approx(1.0)


def test_evaluate_json_falls_back_to_bitrate_without_a_quality_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_waterloo_dir(tmp_path, with_vmaf=False, shuffle_columns=True, extra_columns=True)
    code, out, _ = run(capsys, "evaluate", "--dataset", str(root), "--json")
    dataset = read_waterloo(root)
    expected = correlations(
        score_sessions(dataset.views, use_quality=False)["total"].to_numpy(), dataset.mos.to_numpy(dtype=float)
    )
    assert code == 0 and json.loads(out) == expected.as_dict()


def test_evaluate_prints_a_table_of_every_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", "--dataset", str(write_waterloo_dir(tmp_path)))
    assert code == 0
    for text in ("PLCC", "SRCC", "KRCC", "with per-rendition quality (VMAF) (default)", "bitrate", "Mux"):
        assert text in out


def test_score_writes_one_score_per_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_waterloo_dir(tmp_path / "set")
    out_file = tmp_path / "scores.csv"
    code, out, _ = run(capsys, "score", "--dataset", str(root), "--out", str(out_file))
    assert code == 0 and "wrote 6 scores" in out
    with out_file.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["streaming_log", "score"]
    expected = score_sessions(read_waterloo(root).views)["total"]
    assert {r["streaming_log"]: float(r["score"]) for r in rows} == pytest.approx(expected.round(4).to_dict())


def test_fit_prints_the_constants_and_writes_params_evaluate_can_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_waterloo_dir(tmp_path / "set")
    params_file = tmp_path / "params.json"
    code, out, _ = run(capsys, "fit", "--dataset", str(root), "--out", str(params_file))
    assert code == 0
    assert "startup_tolerance_s" in out and "fitted" in out and "RMSE vs MOS" in out
    assert "upscale_weight" in out  # every constant is listed, fitted or not
    written = json.loads(params_file.read_text())
    assert set(written) == set(DEFAULT_PARAMS.as_dict())

    code, out, _ = run(capsys, "fit", "--dataset", str(root), "--json")
    assert code == 0 and json.loads(out) == written

    code, out, _ = run(capsys, "evaluate", "--dataset", str(root), "--params", str(params_file), "--json")
    assert code == 0 and json.loads(out)["n"] == 6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--dataset", "{tmp}/absent"], "is not a directory"),
        (["evaluate", "--dataset", "{tmp}", "--json"], "no data.csv"),
        (["score", "--dataset", "{tmp}", "--out", "{tmp}/x.csv"], "no data.csv"),
        (["fit", "--dataset", "{tmp}"], "no data.csv"),
    ],
)
def test_not_a_waterloo_directory_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *(part.format(tmp=tmp_path) for part in argv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("qoe qoe-model ")


def test_missing_columns_exit_2_naming_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_waterloo_dir(tmp_path / "a", drop_log_column="rebuffering_duration", shuffle_columns=True)
    code, _, err = run(capsys, "evaluate", "--dataset", str(root), "--json")
    assert code == 2 and "lacks required column(s): rebuffering_duration" in err and err.count("\n") == 1

    root = write_waterloo_dir(tmp_path / "b", drop_data_column="mos")
    code, _, err = run(capsys, "evaluate", "--dataset", str(root))
    assert code == 2 and "data.csv lacks required column(s): mos" in err


def test_bad_params_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_waterloo_dir(tmp_path / "set")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "evaluate", "--dataset", str(root), "--params", str(bad))
    assert code == 2 and "is not JSON" in err
    bad.write_text(json.dumps({**DEFAULT_PARAMS.as_dict(), "stall_tolerance": -1}))
    code, _, err = run(capsys, "evaluate", "--dataset", str(root), "--params", str(bad))
    assert code == 2 and "stall_tolerance must be ≥ 0" in err


def test_evaluate_reports_undefined_correlations_as_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_waterloo_dir(tmp_path)
    data = (root / "data.csv").read_text().splitlines()
    (root / "data.csv").write_text("\n".join(data[:2]) + "\n")  # a single session
    code, out, _ = run(capsys, "evaluate", "--dataset", str(root), "--json")
    assert code == 0 and json.loads(out) == {"plcc": None, "srcc": None, "krcc": None, "n": 1}
