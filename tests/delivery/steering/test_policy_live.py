"""Phase 2 rules of the policy: throughput degradation, spreading without data, provisional orders."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from delivery.steering.policy import GroupState, ReasonCode, SteeringPolicy, client_order, decide_group
from schemas.steering import GLOBAL, CdnScore
from tests.factories.delivery import NO_MOBILE_LIVE, T0, board, later, policy_config, score


def ratio_score(cdn: str, qoe: float, ratio: float | None, *, views: int = 500, **kw: Any) -> CdnScore:
    """Window and recent throughput ratios alike, each from every view."""
    n = views if ratio is not None else 0
    window: dict[str, Any] = {"throughput_ratio_p50": ratio, "throughput_ratio_views": n}
    return score(cdn, qoe, views=views, recent_ratio_p50=ratio, recent_ratio_views=n, **window, **kw)


def decide(scores: list[CdnScore], state: GroupState, **config: Any) -> tuple[tuple[str, ...], ReasonCode]:
    decision, _ = decide_group(policy_config(**config), state, NO_MOBILE_LIVE, board(*scores), T0)
    return decision.priority, decision.reason.code


INCUMBENT_A = GroupState(priority=("cdn-a", "cdn-b", "cdn-c"), version=3)


def test_a_throughput_collapse_switches_before_qoe_shows_it() -> None:
    # QoE still equal (buffers hide it), but cdn-a's viewers get 30 % of their usual throughput.
    scores = [ratio_score("cdn-a", 80, 0.3), ratio_score("cdn-b", 79, 1.0), ratio_score("cdn-c", 70, 1.1)]
    priority, reason = decide(scores, INCUMBENT_A)
    assert priority[0] == "cdn-b" and reason is ReasonCode.DEGRADED  # the healthy one with the better QoE


def test_degradation_needs_a_healthy_alternative() -> None:
    everyone_slow = [ratio_score("cdn-a", 80, 0.3), ratio_score("cdn-b", 79, 0.4), ratio_score("cdn-c", 70, None)]
    assert decide(everyone_slow, INCUMBENT_A) == (("cdn-a", "cdn-b", "cdn-c"), ReasonCode.INCUMBENT_BEST)


def test_an_alternatives_health_counts_from_few_views() -> None:
    # cdn-c has too few views for its QoE to be trusted, enough for its throughput ratio.
    scores = [ratio_score("cdn-a", 80, 0.2), ratio_score("cdn-c", 60, 1.0, views=6)]
    priority, reason = decide(scores, INCUMBENT_A, health_min_views=5)
    assert priority[0] == "cdn-c" and reason is ReasonCode.DEGRADED
    assert decide(scores, INCUMBENT_A, health_min_views=10)[1] is ReasonCode.INCUMBENT_BEST


def test_a_collapse_seen_by_few_views_is_not_trusted() -> None:
    scores = [ratio_score("cdn-a", 80, 0.3, views=500), ratio_score("cdn-b", 79, 1.0)]
    few = [score("cdn-a", 80, views=500, recent_ratio_p50=0.3, recent_ratio_views=8), scores[1]]
    assert decide(few, INCUMBENT_A)[1] is ReasonCode.INCUMBENT_BEST  # 8 recent ratios < degraded_min_views
    # Only recent downloads count for a collapse: the window's median still holds older ones.
    window_only = [score("cdn-a", 80, views=500, throughput_ratio_p50=0.3, throughput_ratio_views=400), scores[1]]
    assert decide(window_only, INCUMBENT_A)[1] is ReasonCode.INCUMBENT_BEST
    assert decide(scores, INCUMBENT_A)[1] is ReasonCode.DEGRADED


def test_the_rule_can_be_switched_off() -> None:
    scores = [ratio_score("cdn-a", 80, 0.3), ratio_score("cdn-b", 79, 1.0)]
    assert decide(scores, INCUMBENT_A, degraded_ratio=None)[1] is ReasonCode.INCUMBENT_BEST
    with pytest.raises(ValueError, match="degraded_ratio"):
        policy_config(degraded_ratio=0.9, healthy_ratio=0.8)


def test_an_order_chosen_without_figures_is_provisional() -> None:
    config = policy_config()
    decision, state = decide_group(config, GroupState(), NO_MOBILE_LIVE, board(), T0)
    assert decision.reason.code is ReasonCode.NO_DATA and state.provisional
    # The first figures decide afresh (no hysteresis against a default nobody chose).
    scores = board(score("cdn-b", 84, window_end=later(30)), score("cdn-a", 82, window_end=later(30)))
    decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, later(30))
    assert decision.priority[0] == "cdn-b" and decision.reason.code is ReasonCode.INITIAL
    assert not state.provisional and decision.changed


def test_without_data_clients_are_spread_evenly() -> None:
    config = policy_config(spread_without_data=True)
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, board(), T0)
    rng = random.Random(3)
    firsts = Counter(client_order(config, decision, {}, rng).priority[0] for _ in range(3000))
    assert set(firsts) == {"cdn-a", "cdn-b", "cdn-c"}
    assert all(900 < n < 1100 for n in firsts.values())
    answer = client_order(config, decision, {}, rng)
    assert answer.exploring and sorted(answer.priority) == ["cdn-a", "cdn-b", "cdn-c"]


def test_spreading_stops_once_figures_exist() -> None:
    config = policy_config(spread_without_data=True, explore_rate=0.0)
    policy = SteeringPolicy(config)
    scores = board(score("cdn-b", 90), score("cdn-a", 70))
    rng = random.Random(5)
    firsts = {policy.decide(NO_MOBILE_LIVE, GroupState(), scores, T0, rng)[0].priority[0] for _ in range(50)}
    assert firsts == {"cdn-b"}


def test_throughput_ratio_travels_on_the_wire() -> None:
    record = ratio_score("cdn-a", 80, 0.4321, group=GLOBAL)
    assert b'"tr":0.4321,"tn":500,"rt":0.4321,"rn":500' in record.to_json()
    decoded = CdnScore.from_json(record.to_json())
    assert decoded.throughput_ratio_p50 == pytest.approx(0.4321) and decoded.throughput_ratio_views == 500
    assert decoded.recent_ratio_p50 == pytest.approx(0.4321) and decoded.recent_ratio_views == 500
    plain = score("cdn-a", 80)
    assert b'"tr"' not in plain.to_json() and CdnScore.from_json(plain.to_json()).throughput_ratio_p50 is None
    with pytest.raises(ValueError, match="throughput_ratio_p50"):
        ratio_score("cdn-a", 80, -1.0)
    with pytest.raises(ValueError, match="throughput_ratio_views"):
        score("cdn-a", 80, throughput_ratio_views=3)
