"""The steering decision sink writes every decision it can and hands back the rest for the dead-letter topic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.cdn_scores.agents import write_decisions
from streams.failures import RetryPolicy
from warehouse.steering import DECISION_COLUMNS

NO_WAIT = RetryPolicy(max_retries=1, first_delay_s=0.0, max_delay_s=0.0)


def decision(version: Any, **changes: Any) -> bytes:
    values: dict[str, Any] = {column: "" for column in DECISION_COLUMNS} | {
        "decided_at": datetime.now(UTC).isoformat(),
        "instance": "gw-1",
        "group_key": "NO/*/*/*",
        "asn": None,
        "version": version,
        "previous_priority": ["cdn-b", "cdn-a"],
        "priority": ["cdn-a", "cdn-b"],
        "figure_pathway": ["cdn-a"],
        "figure_qoe": [80.0],
        "figure_adjusted": [80.0],
        "figure_views": [100],
        "figure_level": [1],
    }
    return orjson.dumps(values | changes)


def versions(client: Client) -> list[int]:
    return [int(row[0]) for row in client.query("SELECT version FROM steering_decisions ORDER BY version").result_rows]


def test_unreadable_and_refused_decisions_come_back_and_the_others_are_written(warehouse: Client) -> None:
    values = [
        decision(1),
        b"not json",
        decision(2, figure_views=["many"]),  # readable, but no UInt32 the warehouse can store
        decision(3),
        decision("four"),
        decision(5),
    ]
    refused = write_decisions(warehouse, values, NO_WAIT)
    assert [bad.item for bad in refused] == [values[1], values[2], values[4]]
    assert "steering decision" in refused[0].reason
    assert versions(warehouse) == [1, 3, 5]
