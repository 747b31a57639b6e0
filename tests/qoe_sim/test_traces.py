from __future__ import annotations

import random
from pathlib import Path

import pytest
from qoe_sim.traces import Trace, TraceError, TraceLibrary, load_pensieve, load_sabre

from tests.factories.sim import sabre_trace


def trace(rows: list[tuple[float, float, float]]) -> Trace:
    return Trace("t", "c", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def test_transfer_integrates_bandwidth_across_intervals() -> None:
    # 1 s at 1,000 kb/s (1,000,000 bits), then 1 s at 4,000 kb/s.
    link = trace([(1000, 1000, 20), (1000, 4000, 40)])
    assert link.transfer_ms(0, 500_000) == 500
    # From 500 ms: 500,000 bits by 1,000 ms, then 1,000,000 more at 4,000 kb/s take 250 ms.
    assert link.transfer_ms(500, 1_500_000) == 750
    assert link.latency_ms(999) == 20 and link.latency_ms(1000) == 40


def test_transfer_loops_the_trace_and_crosses_outages() -> None:
    link = trace([(1000, 1000, 0), (1000, 0, 0)])  # 1,000,000 bits per 2 s lap, half of it dead air
    assert link.transfer_ms(0, 1_000_000) == 1000
    assert link.transfer_ms(1500, 100_000) == 600  # waits out the outage, then 100 ms
    assert link.transfer_ms(0, 3_500_000) == 6500  # three laps and a half interval
    assert link.transfer_ms(8_250, 250_000) == 250  # a start far past the end wraps around (4 laps)
    assert link.transfer_ms(7_250, 250_000) == 1000  # ... into the outage: 750 ms of waiting first


def test_sabre_and_pensieve_files_load(tmp_path: Path) -> None:
    sabre = load_sabre(sabre_trace(tmp_path / "a.json", [(1000, 800, 80), (500, 1600, 80)]))
    assert sabre.period_ms == 1500 and sabre.mean_kbps == pytest.approx(800 * 2 / 1.5)
    text = tmp_path / "trace_1.log"
    text.write_text("0.0 1.0\n1.0 2.5\n3.0 0.5\n")
    pensieve = load_pensieve(text)
    durations, kbps, latency = pensieve.intervals()
    assert durations == [1000, 2000] and kbps == [2500, 500] and latency == [80, 80]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "at least one interval"),
        ('[{"duration_ms": 1000}]', "not a Sabre JSON trace"),
        ('[{"duration_ms": 1000, "bandwidth_kbps": 0, "latency_ms": 1}]', "zero throughout"),
        ('[{"duration_ms": -5, "bandwidth_kbps": 10, "latency_ms": 1}]', "durations must be positive"),
        ("{not json", "not a Sabre JSON trace"),
    ],
)
def test_bad_sabre_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TraceError, match=message):
        load_sabre(path)


def test_bad_pensieve_files_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("0 1\n0 2\n")
    with pytest.raises(TraceError, match="timestamps must increase"):
        load_pensieve(path)
    path.write_text("zero one\n")
    with pytest.raises(TraceError, match="seconds Mbps"):
        load_pensieve(path)


def test_library_groups_by_first_directory_and_falls_back_for_unknown_classes(tmp_path: Path) -> None:
    sabre_trace(tmp_path / "lte" / "x" / "a.json", [(1000, 5000, 20)])
    sabre_trace(tmp_path / "fcc" / "b.json", [(1000, 9000, 20)])
    library = TraceLibrary.from_dir(tmp_path)
    assert library.names == ("fcc", "lte")
    rng = random.Random(0)
    assert library.pick("lte", rng).name == "a"
    assert {library.pick("3g", rng).klass for _ in range(50)} == {"fcc", "lte"}


def test_library_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="does not exist"):
        TraceLibrary.from_dir(tmp_path / "missing")
    with pytest.raises(TraceError, match="no trace files"):
        TraceLibrary.from_dir(tmp_path)


@pytest.mark.shared_data
def test_every_shared_trace_loads(shared_data: Path) -> None:
    library = TraceLibrary.from_dir(shared_data / "traces")
    assert {k: len(v) for k, v in library.classes.items()} == {
        "fcc-hd": 1000,
        "fcc-sd": 1000,
        "hsdpa-3g": 86,
        "lte-4g": 40,
    }
