"""The abuse-load benchmark, briefly, on the real gateway and broker and on the floor (a bare app
refusing the abuser at once): the rows it reports, and the abusing address answered 429 (the
latency target is the benchmark's to judge, not this test's)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.abuse import BLOCKS, SECTION, beacon_bodies, measure, rows
from foundation.settings import Settings
from schemas import Beacon


def test_the_normal_body_is_a_beacon_and_the_abusive_one_is_not() -> None:
    valid, invalid = beacon_bodies(1_790_000_000_000)
    assert len(Beacon.model_validate_json(valid).events) == 20
    assert orjson.loads(invalid)["events"][10]["type"] == "not-an-event"


@pytest.mark.integration
def test_a_brief_run_reports_every_row_and_the_abuser_gets_429s(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    runs = measure(settings, logs, block_s=1.0)
    latency, limited, cpu, floor, against_floor = rows(runs)
    assert {row.section for row in (latency, limited, cpu, floor, against_floor)} == {SECTION}
    assert (latency.unit, limited.unit, cpu.unit, floor.unit, against_floor.unit) == ("ms", "%", "µs", "ms", "×")
    assert latency.value > 0 and latency.baseline is not None and latency.baseline > 0
    assert latency.passed is not None and limited.passed is not None
    assert cpu.baseline is not None and cpu.baseline > 0
    assert limited.value > 50, "the abusing address was not turned away"
    assert runs.gateway.abuser_statuses.count(429) > 0
    assert set(runs.gateway.normal.statuses["quiet"] + runs.gateway.normal.statuses["abuse"]) == {202}
    # The floor refuses every request of the abuser and accepts every valid beacon; the last row
    # sets the gateway's ratio beside the floor's.
    assert set(runs.floor.abuser_statuses) == {429}
    assert set(runs.floor.normal.statuses["quiet"] + runs.floor.normal.statuses["abuse"]) == {202}
    assert floor.baseline is not None and floor.value > 0 and floor.baseline > 0
    rounds = {(kind, r) for kind in ("quiet", "abuse") for r in range(len(BLOCKS) // 2)} | {("warmup", -1)}
    assert set(runs.floor.normal.by_round_ms) == set(runs.gateway.normal.by_round_ms) == rounds
    assert against_floor.value == pytest.approx(latency.value / latency.baseline)
    assert against_floor.baseline == pytest.approx(floor.value / floor.baseline)
