"""Steering decisions. Owns ``steering_decisions``.

The one writer is :func:`insert_decisions`, called by the stream worker's decision sink
(``streams.cdn_scores.agents``) with the gateway's decision log; the reads serve
``/v1/steering/decisions``, ``/v1/steering/priorities`` and the steering dashboard page. Every
query on the table is here, so its layout is known in one place.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.results import query_frame

TABLE = "steering_decisions"
# The columns of a decision record (``schemas.steering``) as the table stores them, in insert order.
DECISION_COLUMNS = (
    "decided_at",
    "instance",
    "config_id",
    "group_key",
    "country",
    "asn",
    "device",
    "stream_type",
    "version",
    "from_pathway",
    "to_pathway",
    "previous_priority",
    "priority",
    "reason_code",
    "reason_text",
    "figure_pathway",
    "figure_qoe",
    "figure_adjusted",
    "figure_views",
    "figure_level",
)

RECENT_DECISIONS_SQL = """
SELECT decided_at, instance, group_key, version, from_pathway, to_pathway, priority, reason_code, reason_text,
       figure_pathway, figure_qoe, figure_views, figure_level
FROM steering_decisions FINAL
WHERE decided_at >= now64(3) - toIntervalMinute({minutes:UInt32})
ORDER BY decided_at DESC
LIMIT {limit:UInt32}
"""

CURRENT_PRIORITIES_SQL = """
SELECT instance, group_key,
       argMax(priority, (decided_at, version)) AS priority,
       argMax(reason_code, (decided_at, version)) AS reason_code,
       max(decided_at) AS last_decided_at,
       count() AS changes
FROM steering_decisions FINAL
WHERE decided_at >= now64(3) - toIntervalMinute({minutes:UInt32})
GROUP BY instance, group_key
ORDER BY last_decided_at DESC
LIMIT {limit:UInt32}
"""


def insert_decisions(client: Client, rows: list[list[Any]]) -> None:
    """Rows of :data:`DECISION_COLUMNS`; a replayed decision replaces itself (the table's key)."""
    if rows:
        client.insert(TABLE, rows, column_names=list(DECISION_COLUMNS))


def recent_decisions(client: Client, minutes: int = 60, limit: int = 200) -> pd.DataFrame:
    """The newest priority changes, with their reasons and the figures behind them."""
    return query_frame(client, RECENT_DECISIONS_SQL, {"minutes": minutes, "limit": limit})


def current_priorities(client: Client, minutes: int = 24 * 60, limit: int = 500) -> pd.DataFrame:
    """Each group's latest priority per steering replica (changes within ``minutes``)."""
    return query_frame(client, CURRENT_PRIORITIES_SQL, {"minutes": minutes, "limit": limit})


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps as ISO 8601, arrays as lists."""
    return [{str(key): _plain(value) for key, value in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return list(value) if _is_array(value) else value  # type: ignore[call-overload]


def _is_array(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "ndarray"
