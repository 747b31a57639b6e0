from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from delivery.autoscaling.capacity import Tier
from delivery.autoscaling.forecast import ScheduledEvent
from delivery.autoscaling.signals import (
    AutoscalingSignals,
    DemandUnavailableError,
    SignalConfig,
    check_demand_frame,
    horizon_minutes,
)
from tests.factories.delivery import FakeDemandSource, daily_pattern, demand_frame

NOW = datetime(2026, 9, 17, 18, 0, 45, tzinfo=UTC)  # the 17:59 minute has just closed


def signals_for(
    frame: pd.DataFrame, **kwargs: object
) -> tuple[AutoscalingSignals, CollectorRegistry, FakeDemandSource]:
    registry = CollectorRegistry()
    source = FakeDemandSource(frame)
    config = kwargs.pop("config", SignalConfig(min_refresh_s=0))
    signals = AutoscalingSignals(source, config, registry=registry, **kwargs)  # type: ignore[arg-type]
    return signals, registry, source


def test_document_shape_is_readable_by_keda() -> None:
    signals, _, _ = signals_for(demand_frame(NOW.replace(second=0), regions={"eu": 1.0, "us": 0.5}))
    doc = signals.document(NOW)
    assert set(doc) == {"generated_at", "provision_minutes", "stabilisation_s", "regions"}
    assert set(doc["regions"]) == {"eu", "us"}
    eu = doc["regions"]["eu"]
    assert set(eu) == {"observed", "forecast", "tiers", "compute_ms"}
    assert set(eu["tiers"]) == {"origin", "edge", "ingest", "stream_workers"}
    # What KEDA's valueLocation "regions.eu.tiers.edge.desired_replicas" reads: a plain integer.
    value = doc["regions"]["eu"]["tiers"]["edge"]["desired_replicas"]
    assert isinstance(value, int) and value >= 2
    assert eu["observed"]["minute"] == "2026-09-17T17:59:00+00:00"
    assert eu["forecast"]["seasonal"] is True
    # 18:00 (current, unseen) + 3 provisioning minutes
    assert len(eu["forecast"]["concurrency"]) == eu["forecast"]["horizon_minutes"] == 4


def test_desired_replicas_follow_the_forecast_peak_with_headroom() -> None:
    signals, _, _ = signals_for(demand_frame(NOW.replace(second=0)))
    eu = signals.document(NOW)["regions"]["eu"]
    minutes = pd.date_range("2026-09-17 18:00", periods=4, freq="min", tz=UTC)
    expected_peak = daily_pattern(np.asarray(minutes.hour * 60 + minutes.minute)).max()
    assert eu["forecast"]["peak_concurrency"] == pytest.approx(expected_peak, rel=0.005)
    config = SignalConfig()
    egress_gbps = eu["forecast"]["peak_egress_bps"] / 1e9
    assert eu["tiers"]["edge"]["desired_replicas"] == config.capacity.desired(Tier.EDGE, egress_gbps)
    assert eu["tiers"]["ingest"]["load"] == pytest.approx(eu["forecast"]["peak_concurrency"] / 10, rel=1e-3)


def test_gauges_are_published_on_the_given_registry() -> None:
    signals, registry, _ = signals_for(demand_frame(NOW.replace(second=0), regions={"eu": 1.0, "us": 0.5}))
    doc = signals.document(NOW)
    for region in ("eu", "us"):
        for tier in Tier:
            value = registry.get_sample_value("qoe_desired_replicas", {"tier": tier.value, "region": region})
            assert value == doc["regions"][region]["tiers"][tier.value]["desired_replicas"]
        assert registry.get_sample_value("qoe_forecast_concurrency", {"region": region}) == pytest.approx(
            doc["regions"][region]["forecast"]["peak_concurrency"]
        )
        assert registry.get_sample_value("qoe_observed_egress_bps", {"region": region}) > 0  # type: ignore[operator]
    assert registry.get_sample_value("qoe_forecast_tier_load", {"tier": "edge", "region": "eu"}) > 0  # type: ignore[operator]


def test_a_region_with_stale_data_is_left_out_and_its_gauges_removed() -> None:
    frame = demand_frame(NOW.replace(second=0), regions={"eu": 1.0, "us": 0.5})
    signals, registry, source = signals_for(frame)
    signals.document(NOW)
    minutes = pd.to_datetime(frame["minute"], utc=True)
    source.frame = frame[(frame["region"] == "eu") | (minutes < NOW - timedelta(minutes=30))]  # us stops reporting
    doc = signals.document(NOW + timedelta(minutes=1))
    assert set(doc["regions"]) == {"eu"}
    assert registry.get_sample_value("qoe_desired_replicas", {"tier": "edge", "region": "us"}) is None
    assert registry.get_sample_value("qoe_desired_replicas", {"tier": "edge", "region": "eu"}) is not None


def test_scale_down_is_stabilised_across_polls() -> None:
    frame = demand_frame(NOW.replace(second=0))
    signals, _, source = signals_for(frame, config=SignalConfig(min_refresh_s=0, stabilisation_s=180))
    before = signals.document(NOW)["regions"]["eu"]["tiers"]["edge"]["desired_replicas"]
    dropped = frame.copy()
    dropped.loc[dropped["minute"] >= NOW - timedelta(minutes=10), ["concurrency", "egress_bps"]] /= 4
    source.frame = dropped
    held = signals.document(NOW + timedelta(seconds=60))["regions"]["eu"]["tiers"]["edge"]
    assert held["unstabilised_replicas"] < before and held["desired_replicas"] == before
    released = signals.document(NOW + timedelta(seconds=200))["regions"]["eu"]["tiers"]["edge"]
    assert released["desired_replicas"] == released["unstabilised_replicas"] < before


def test_scheduled_event_raises_the_signal_before_it_starts() -> None:
    frame = demand_frame(NOW.replace(second=0))
    event = ScheduledEvent(NOW + timedelta(minutes=2), 300_000, region="eu", name="final")
    plain, _, _ = signals_for(frame)
    scheduled, _, _ = signals_for(frame, schedule=lambda now: [event])
    before = plain.document(NOW)["regions"]["eu"]
    after = scheduled.document(NOW)["regions"]["eu"]
    assert after["forecast"]["events"] == ["final"]
    assert after["forecast"]["scheduled_viewers"] == 375_000  # expected × (1 + 25 % margin)
    assert after["tiers"]["edge"]["desired_replicas"] > 2 * before["tiers"]["edge"]["desired_replicas"]


def test_polls_within_the_refresh_interval_reuse_the_document() -> None:
    signals, _, source = signals_for(demand_frame(NOW.replace(second=0)), config=SignalConfig(min_refresh_s=15))
    first = signals.document(NOW)
    assert signals.document(NOW + timedelta(seconds=10)) is first
    assert source.calls == 1
    signals.document(NOW + timedelta(seconds=16))
    assert source.calls == 2


def test_source_failures_and_bad_frames_raise_demand_unavailable() -> None:
    signals, _, source = signals_for(demand_frame(NOW.replace(second=0)))
    source.fail_with = ConnectionError("clickhouse down")
    with pytest.raises(DemandUnavailableError, match="clickhouse down"):
        signals.document(NOW)
    source.fail_with = None
    source.frame = source.frame.drop(columns=["egress_bps"])
    with pytest.raises(DemandUnavailableError, match="egress_bps"):
        signals.document(NOW)


def test_an_unreadable_schedule_makes_the_signal_unavailable() -> None:
    def broken(now: datetime) -> list[ScheduledEvent]:
        raise OSError("events file missing")

    signals, _, _ = signals_for(demand_frame(NOW.replace(second=0)), schedule=broken)
    with pytest.raises(DemandUnavailableError, match="events file missing"):
        signals.document(NOW)


def test_check_demand_frame_refuses_negative_or_non_numeric_values() -> None:
    frame = demand_frame(NOW.replace(second=0), days=0.01)
    frame.loc[0, "concurrency"] = -5
    with pytest.raises(ValueError, match="non-negative"):
        check_demand_frame(frame)


def test_horizon_covers_the_data_lag_and_the_provisioning_time() -> None:
    last = datetime(2026, 9, 17, 17, 59, tzinfo=UTC)
    assert horizon_minutes(last, last + timedelta(seconds=90), 3) == 4  # 30 s behind → one more minute
    assert horizon_minutes(last, last + timedelta(seconds=60), 3) == 3
    assert horizon_minutes(last, last + timedelta(seconds=60), 0) == 1
