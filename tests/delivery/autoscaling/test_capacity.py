from __future__ import annotations

import pytest

from delivery.autoscaling.capacity import CapacityModel, ScaleDownStabiliser, Tier


def test_tier_loads_from_demand() -> None:
    model = CapacityModel(segment_s=4.0, edge_hit_ratio=0.95, beacon_flush_s=10.0, events_per_beacon=12.0)
    viewers, egress = 200_000.0, 1.0e12
    assert model.load(Tier.EDGE, viewers, egress) == pytest.approx(1000.0)  # Gbit/s
    assert model.load(Tier.ORIGIN, viewers, egress) == pytest.approx(2500.0)  # 50k segments/s × 5 % misses
    assert model.load(Tier.INGEST, viewers, egress) == pytest.approx(20_000.0)  # beacons/s
    assert model.load(Tier.STREAM_WORKERS, viewers, egress) == pytest.approx(240_000.0)  # events/s


def test_desired_replicas_apply_headroom_and_bounds() -> None:
    model = CapacityModel(edge_gbps_per_replica=20.0, headroom=0.25, min_replicas=2, max_replicas=100)
    assert model.target_utilisation == pytest.approx(0.8)
    assert model.desired(Tier.EDGE, 160.0) == 10  # 160 × 1.25 / 20 exactly
    assert model.desired(Tier.EDGE, 161.0) == 11
    assert model.desired(Tier.EDGE, 0.0) == 2  # min
    assert model.desired(Tier.EDGE, 10_000.0) == 100  # max
    assert model.needed_at_full(Tier.EDGE, 161.0) == 9


@pytest.mark.parametrize(
    "kwargs",
    [{"edge_gbps_per_replica": 0}, {"edge_hit_ratio": 1.0}, {"headroom": -0.1}, {"min_replicas": 5, "max_replicas": 4}],
)
def test_capacity_model_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CapacityModel(**kwargs)  # type: ignore[arg-type]


def test_stabiliser_scales_up_at_once_and_down_after_the_window() -> None:
    stabiliser = ScaleDownStabiliser(window_s=300)
    assert stabiliser.update(0, 10) == 10
    assert stabiliser.update(15, 25) == 25  # up: immediately
    assert stabiliser.update(100, 8) == 25  # down: held
    assert stabiliser.update(314, 8) == 25  # the 25 from t=15 is still inside the window
    assert stabiliser.update(316, 8) == 8  # and now it is not
    with pytest.raises(ValueError, match="backwards"):
        stabiliser.update(200, 8)


def test_zero_window_follows_the_recommendation() -> None:
    stabiliser = ScaleDownStabiliser(window_s=0)
    assert [stabiliser.update(t, r) for t, r in [(0, 9), (15, 3), (30, 7)]] == [9, 3, 7]
