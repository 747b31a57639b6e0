"""The abuse-load benchmark, briefly, on the real gateway and broker: the rows it reports, and the
abusing address answered 429 (the latency target is the benchmark's to judge, not this test's)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.abuse import SECTION, beacon_bodies, measure, rows
from foundation.settings import Settings
from schemas import Beacon


def test_the_normal_body_is_a_beacon_and_the_abusive_one_is_not() -> None:
    valid, invalid = beacon_bodies(1_790_000_000_000)
    assert len(Beacon.model_validate_json(valid).events) == 20
    assert orjson.loads(invalid)["events"][10]["type"] == "not-an-event"


@pytest.mark.integration
def test_a_brief_run_reports_both_rows_and_the_abuser_gets_429s(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    run = measure(settings, logs, block_s=1.0)
    latency, limited, cpu = rows(run)
    assert (latency.section, latency.unit, limited.section, limited.unit) == (SECTION, "ms", SECTION, "%")
    assert latency.value > 0 and latency.baseline is not None and latency.baseline > 0
    assert latency.passed is not None and limited.passed is not None
    assert cpu.unit == "µs" and cpu.baseline is not None and cpu.baseline > 0
    assert limited.value > 50, "the abusing address was not turned away"
    assert run.abuser_statuses.count(429) > 0
    assert set(run.normal.statuses["quiet"] + run.normal.statuses["abuse"]) == {202}
