"""What the dashboards read: the same query layer as the APIs, on a warehouse client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from foundation.settings import Settings


@dataclass(frozen=True)
class DashboardData:
    settings: Settings
    warehouse: Callable[[], Client]
