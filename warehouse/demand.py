"""Demand for the autoscaling signal, from the sessionizer's per-minute rollup. Owns no table.

Reads ``qoe_minute_cube`` (filled from ``view_deltas``, see :mod:`warehouse.views`): per minute and
delivery region, the peak of concurrently active views (the per-instant ``active_samples``, every
5 s, summed over the region's rows, then the minute's maximum) and the egress (``bitrate_ms`` is
Σ kbps × ms of playing time, so ÷ 60 is the minute's mean bits per second). This is the only query
that knows the rollup's columns for delivery, so a change of the rollup touches one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.results import query_frame, utc

DEMAND_SQL = """
SELECT
    minute,
    transform(country, {countries:Array(String)}, {regions:Array(String)}, {other:String}) AS region,
    arrayMax(sumForEachMerge(active_samples)) AS concurrency,
    sum(bitrate_ms) / 60 AS egress_bps
FROM qoe_minute_cube
WHERE minute >= toStartOfMinute({since:DateTime64(3, 'UTC')}) AND minute < {until:DateTime64(3, 'UTC')}
GROUP BY minute, region
ORDER BY region, minute
"""


def demand(client: Client, region_of: Mapping[str, str], other: str, since: datetime, until: datetime) -> pd.DataFrame:
    """``minute`` (UTC), ``region``, ``concurrency`` and ``egress_bps`` per minute in [since, until) and
    region; ``region_of`` maps a country to its region, and the other countries go to ``other``."""
    countries = sorted(region_of)
    parameters = {
        "countries": countries,
        "regions": [region_of[c] for c in countries],
        "other": other,
        "since": since,
        "until": until,
    }
    return utc(query_frame(client, DEMAND_SQL, parameters), "minute")
