from __future__ import annotations

import pytest
from qoe_sim.abr import BufferRule, ThroughputRule, make_abr

LADDER = (230, 477, 991, 2056, 5027)


def test_throughput_rule_starts_from_the_default_estimate_and_learns() -> None:
    rule = ThroughputRule(LADDER)
    assert rule.choose(0, None) == 0  # 0.9 × 500 kb/s = 450: only the 230 kb/s rung
    rule.observe(3_000_000, 1_000)  # 3,000 kb/s
    assert rule.estimate_kbps() == pytest.approx(3_000)
    assert rule.choose(10_000, 1) == 3  # 2,056 ≤ 0.7 × 3,000
    assert rule.choose(10_000, 4) == 3  # down-switches use 0.9: 5,027 > 2,700


def test_throughput_rule_reacts_to_a_drop_through_the_fast_average() -> None:
    rule = ThroughputRule(LADDER)
    for _ in range(10):
        rule.observe(8_000_000, 1_000)
    rule.observe(500_000, 1_000)  # one second of dip: the estimate sags but the rung holds
    assert 5_027 / 0.9 < rule.estimate_kbps() < 8_000
    assert rule.choose(5_000, 4) == 4
    rule.observe(1_500_000, 3_000)  # three seconds of it: the fast average (3 s half-life) gives way
    assert rule.choose(5_000, 4) == 3


def test_buffer_rule_maps_buffer_to_rate_with_hysteresis() -> None:
    rule = BufferRule(LADDER, reservoir_ms=5_000, cushion_ms=20_000)
    assert rule.choose(2_000, None) == 0
    assert rule.choose(30_000, None) == 4
    # At 15 s the map gives 230 + 0.5 × (5,027 - 230) ≈ 2,628 kb/s.
    assert rule.choose(15_000, 2) == 3  # crosses the next rung up (2,056): switch
    assert rule.choose(15_000, 3) == 3  # neither 5,027 nor 991 crossed: hold
    assert rule.choose(10_000, 2) == 2  # ≈ 1,429 kb/s: between the neighbours, hold
    assert rule.choose(4_000, 3) == 0  # in the reservoir: the lowest rung


def test_unknown_rule_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown ABR rule 'bola'"):
        make_abr("bola", LADDER)
