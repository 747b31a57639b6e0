"""The steering dashboard page: its tables from the gateway's board and the decision log."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboards.pages import steering


def test_score_rows_put_coarse_groups_first_and_round() -> None:
    scores = [
        {"cdn": "cdn-a", "group": "NO/2119/mobile/live", "views": 40, "qoe_score": 71.234, "rebuffering_ratio": 0.01234,
         "vst_p50_ms": 812.4, "avg_bitrate_kbps": 3012.6, "window_end": "2026-09-21T20:00:00+00:00",
         "throughput_ratio_p50": 0.98},
        {"cdn": "cdn-b", "group": "*/*/*/*", "views": 400, "qoe_score": 80.0, "rebuffering_ratio": 0.0,
         "vst_p50_ms": 700.0, "avg_bitrate_kbps": 4000.0, "window_end": "2026-09-21T20:00:00+00:00"},
    ]  # fmt: skip
    rows = steering.score_rows(scores)
    assert list(rows["group"]) == ["*/*/*/*", "NO/2119/mobile/live"]
    first = rows.iloc[1]
    assert first["qoe"] == 71.2 and first["rebuffering %"] == 1.23 and first["bitrate kb/s"] == 3013
    assert steering.score_rows([]).empty


def test_decision_and_priority_rows_read_the_warehouse_frames() -> None:
    at = datetime(2026, 9, 21, 20, 0, tzinfo=UTC)
    recent = pd.DataFrame(
        {
            "decided_at": [at],
            "group_key": ["NO/*/*/*"],
            "from_pathway": ["cdn-a"],
            "to_pathway": ["cdn-b"],
            "priority": [["cdn-b", "cdn-a"]],
            "reason_code": ["degraded"],
            "reason_text": ["cdn-a's viewers get 30% of their usual throughput"],
        }
    )
    rows = steering.decision_rows(recent)
    assert rows.iloc[0]["priority"] == "cdn-b > cdn-a" and rows.iloc[0]["reason"] == "degraded"
    current = pd.DataFrame(
        {
            "instance": ["gateway"],
            "group_key": ["NO/*/*/*"],
            "priority": [["cdn-b", "cdn-a"]],
            "reason_code": ["degraded"],
            "last_decided_at": [at],
            "changes": [3],
        }
    )
    assert steering.priority_rows(current).iloc[0]["changes"] == 3
    assert steering.decision_rows(pd.DataFrame()).empty and steering.priority_rows(pd.DataFrame()).empty


def test_the_page_lays_out_its_three_tables() -> None:
    text = str(steering.layout())
    for table in ("steering-scores", "steering-priorities", "steering-decisions"):
        assert table in text
