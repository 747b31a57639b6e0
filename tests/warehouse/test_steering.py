"""Steering decisions (warehouse.steering) on the real embedded engine: the one writer and its reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from warehouse import steering

pytestmark = pytest.mark.integration


def decision(version: int, priority: list[str], at: datetime) -> list[Any]:
    values: dict[str, Any] = {
        "decided_at": at,
        "instance": "gw-1",
        "config_id": "abc",
        "group_key": "NO/*/*/*",
        "country": "NO",
        "asn": None,
        "device": "",
        "stream_type": "",
        "version": version,
        "from_pathway": priority[-1],
        "to_pathway": priority[0],
        "previous_priority": priority[::-1],
        "priority": priority,
        "reason_code": "degraded",
        "reason_text": "slower",
        "figure_pathway": priority,
        "figure_qoe": [80.0, 60.0],
        "figure_adjusted": [80.0, 60.0],
        "figure_views": [100, 90],
        "figure_level": [1, 1],
    }
    return [values[column] for column in steering.DECISION_COLUMNS]


def test_decisions_written_once_read_newest_first(warehouse: Client) -> None:
    now = datetime.now(UTC)
    rows = [decision(1, ["cdn-b", "cdn-a"], now - timedelta(minutes=2)), decision(2, ["cdn-a", "cdn-b"], now)]
    steering.insert_decisions(warehouse, rows)
    steering.insert_decisions(warehouse, rows[1:])  # a replayed record replaces itself
    steering.insert_decisions(warehouse, [])
    recent = steering.records(steering.recent_decisions(warehouse))
    assert [(r["version"], r["priority"]) for r in recent] == [(2, ["cdn-a", "cdn-b"]), (1, ["cdn-b", "cdn-a"])]
    current = steering.records(steering.current_priorities(warehouse))
    assert [(r["group_key"], r["priority"], r["changes"]) for r in current] == [("NO/*/*/*", ["cdn-a", "cdn-b"], 2)]


def test_no_decisions_are_empty_frames_with_their_columns(warehouse: Client) -> None:
    recent = steering.recent_decisions(warehouse)
    assert recent.empty and {"decided_at", "priority", "reason_code"} <= set(recent.columns)
    current = steering.current_priorities(warehouse)
    assert current.empty and {"group_key", "priority", "last_decided_at"} <= set(current.columns)
    assert steering.records(recent) == []
