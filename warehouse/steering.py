"""Steering decisions in the warehouse: the queries behind the API and the dashboard page.

Every query on ``steering_decisions`` is here, so the table's layout is known in one place.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

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


def recent_decisions(client: Client, minutes: int = 60, limit: int = 200) -> pd.DataFrame:
    """The newest priority changes, with their reasons and the figures behind them."""
    return client.query_df(RECENT_DECISIONS_SQL, parameters={"minutes": minutes, "limit": limit})


def current_priorities(client: Client, minutes: int = 24 * 60, limit: int = 500) -> pd.DataFrame:
    """Each group's latest priority per steering replica (changes within ``minutes``)."""
    return client.query_df(CURRENT_PRIORITIES_SQL, parameters={"minutes": minutes, "limit": limit})


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps as ISO 8601, arrays as lists."""
    return [{str(key): _plain(value) for key, value in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return list(value) if _is_array(value) else value  # type: ignore[call-overload]


def _is_array(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "ndarray"
