"""The ClickHouse demand source and the warehouse-side routes, on the embedded warehouse (chDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from delivery.autoscaling.signals import AutoscalingSignals, SignalConfig
from delivery.autoscaling.warehouse import OTHER_REGION, ClickHouseDemandSource, warehouse_autoscaling_router
from foundation.settings import Settings
from tests.factories.access import admin_api
from tests.factories.delivery import FakeDemandSource, demand_frame
from tests.factories.openapi import assert_documented
from warehouse.client import connect
from warehouse.migrations import migrate

pytestmark = pytest.mark.integration

MINUTE = datetime(2026, 9, 21, 20, 0, tzinfo=UTC)


def _delta(minute: datetime, view: str, country: str, active: list[int], bitrate_ms: float) -> dict[str, object]:
    """One view_deltas row: the view active at the given 5 s instants of the minute, and its bitrate × ms."""
    return {
        "minute": minute,
        "view_id": view,
        "version": 1,
        "cdn": "cdn-a",
        "country": country,
        "asn": 0,
        "stream_type": "vod",
        "bitrate_ms": bitrate_ms,
        "active_samples": active,
    }


def _insert(settings: Settings, rows: list[dict[str, object]]) -> None:
    client = connect(settings)
    frame = pd.DataFrame(rows)
    client.insert_df("view_deltas", frame)


def test_concurrency_is_the_peak_of_summed_seconds_and_egress_the_mean_bits(settings: Settings) -> None:
    migrate(connect(settings), settings)
    both = [1] * 12
    first_half = [1] * 6 + [0] * 6
    second_half = [0] * 6 + [1] * 6
    _insert(
        settings,
        [
            _delta(MINUTE, "a", "DE", both, 3000 * 60_000),  # 3 Mbit/s all minute
            _delta(MINUTE, "b", "FR", first_half, 6000 * 30_000),  # 6 Mbit/s for half of it
            _delta(MINUTE, "c", "NO", second_half, 6000 * 30_000),
            _delta(MINUTE, "d", "US", both, 1000 * 60_000),
            _delta(MINUTE, "e", "ZZ", both, 500 * 60_000),
            _delta(MINUTE - timedelta(minutes=5), "f", "DE", both, 0.0),  # before the range
        ],
    )
    source = ClickHouseDemandSource(lambda: connect(settings))
    frame = source(MINUTE - timedelta(minutes=1), MINUTE + timedelta(minutes=1))
    by_region = frame.set_index("region")
    assert set(by_region.index) == {"eu", "na", OTHER_REGION}
    # eu: a all minute + b then c → 2 at every instant, never 3
    assert by_region.loc["eu", "concurrency"] == 2
    assert by_region.loc["eu", "egress_bps"] == pytest.approx(3_000_000 + 3_000_000 + 3_000_000)
    assert by_region.loc["na", "concurrency"] == 1
    assert by_region.loc["na", "egress_bps"] == pytest.approx(1_000_000)
    assert set(frame["minute"]) == {pd.Timestamp(MINUTE)}


def test_routes_answer_signals_and_gauges(settings: Settings) -> None:
    client = connect(settings)
    migrate(client, settings)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = [
        _delta(now - timedelta(minutes=m), f"v{m}-{i}", "DE", [1] * 12, 4000 * 60_000)
        for m in range(1, 30)
        for i in range(3)
    ]
    _insert(settings, rows)
    with admin_api(settings, client) as api:
        signals = api.get("/v1/autoscaling/signals")
        assert signals.status_code == 200, signals.text
        eu = signals.json()["regions"]["eu"]
        assert eu["observed"]["concurrency"] == 3
        assert eu["tiers"]["edge"]["desired_replicas"] >= 2
        assert api.get("/v1/autoscaling/signals", params={"region": "mars"}).status_code == 404
        metrics = api.get("/v1/autoscaling/metrics").text
        assert 'qoe_desired_replicas{region="eu",tier="edge"}' in metrics


def test_the_gauges_are_documented_as_prometheus_text() -> None:
    """The OpenAPI said application/json (FastAPI's default) for the text/plain gauges."""
    source = FakeDemandSource(demand_frame(MINUTE))
    signals = AutoscalingSignals(
        source, SignalConfig(min_refresh_s=0), registry=CollectorRegistry(), clock=lambda: MINUTE
    )
    app = FastAPI()
    app.include_router(warehouse_autoscaling_router(lambda _: signals))
    client = TestClient(app)
    response = client.get("/v1/autoscaling/metrics")
    assert response.status_code == 200 and "qoe_desired_replicas" in response.text
    assert_documented(client.get("/openapi.json").json(), "GET", "/v1/autoscaling/metrics", response)


def test_the_events_file_setting_reaches_the_signal(settings: Settings, tmp_path: Path) -> None:
    client = connect(settings)
    migrate(client, settings)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = range(1, 30)
    _insert(settings, [_delta(now - timedelta(minutes=m), f"v{m}", "DE", [1] * 12, 4000 * 60_000) for m in minutes])
    events = tmp_path / "events.json"
    start = (now + timedelta(minutes=2)).isoformat()
    events.write_bytes(orjson.dumps([{"start": start, "expected_peak": 100_000, "region": "eu", "name": "final"}]))
    scheduled = settings.model_copy(update={"autoscaling_events_file": events})
    with admin_api(scheduled, client) as api:
        eu = api.get("/v1/autoscaling/signals").json()["regions"]["eu"]
        assert eu["forecast"]["events"] == ["final"]
        assert eu["forecast"]["scheduled_viewers"] == 125_000
    broken = settings.model_copy(update={"autoscaling_events_file": tmp_path / "missing.json"})
    with admin_api(broken, client) as api:
        answer = api.get("/v1/autoscaling/signals")
        assert answer.status_code == 503
        assert "missing.json" in answer.json()["error"]


def test_steering_decision_routes_answer_empty_tables(settings: Settings) -> None:
    client = connect(settings)
    migrate(client, settings)
    with admin_api(settings, client) as api:
        assert api.get("/v1/steering/decisions").json() == {"decisions": []}
        assert api.get("/v1/steering/priorities").json() == {"groups": []}
        assert api.get("/v1/steering/decisions", params={"minutes": 0}).status_code == 422
