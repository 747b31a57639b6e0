"""The autoscaling demand query (warehouse.demand) on the real embedded engine; its figures are tested
through the demand source in tests/delivery/autoscaling/test_warehouse.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from warehouse.demand import demand

pytestmark = pytest.mark.integration


def test_no_traffic_is_an_empty_frame_with_the_demand_columns(warehouse: Client) -> None:
    until = datetime.now(UTC)
    frame = demand(warehouse, {"NO": "eu"}, "other", until - timedelta(hours=1), until)
    assert frame.empty
    assert list(frame.columns) == ["minute", "region", "concurrency", "egress_bps"]
