"""The benchmark runs end to end at a toy size (its figures are checked by `make bench`, not here)."""

from __future__ import annotations

from bench.simulator import SECTION, BenchSettings, run
from foundation.settings import Settings


def test_bench_produces_every_figure_against_a_local_sink() -> None:
    tiny = BenchSettings(
        viewers=40, duration_s=3.0, ramp_s=1.0, baseline_s=0.3, virtual_viewers=20, virtual_duration_s=20.0
    )
    rows = run(Settings(_env_file=None), tiny)
    assert [r.metric for r in rows] == [
        "live viewers sustained (one process)",
        "beacons delivered",
        "events delivered",
        "HTTP client ceiling: aiohttp",
        "simulator CPU at that audience",
        "scheduling lag p99",
        "virtual time, as fast as possible",
    ]
    assert all(r.section == SECTION for r in rows)
    assert rows[0].value in (0, 40) and rows[0].passed is False  # 40 viewers never meet the 5,000 target
    assert rows[1].value >= 0 and rows[1].baseline is not None and rows[1].baseline > 0  # the bare httpx loop
    assert rows[3].value > 0  # the bare aiohttp loop
    assert rows[-1].value > 0 and rows[-1].baseline == 1.0
