from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pytest

from delivery.steering.policy import (
    MAX_SPILL,
    CapState,
    GroupState,
    PolicyConfig,
    ReasonCode,
    SteeringPolicy,
    client_order,
    decide_group,
    update_caps,
)
from delivery.steering.scores import ScoreBoard
from schemas.steering import GLOBAL, CdnScore, Group
from tests.factories.delivery import NO_MOBILE_LIVE, T0, board, global_shares, later, policy_config, score


def run_windows(
    config: PolicyConfig, windows: Sequence[Mapping[str, float]], *, step_s: float = 60.0, views: int = 500
) -> list[tuple[tuple[str, ...], ReasonCode, int]]:
    """Feed one set of QoE figures per window and decide once per window."""
    state = GroupState()
    scores = ScoreBoard()
    out = []
    for i, qoes in enumerate(windows):
        now = later(i * step_s)
        scores.put_all(score(cdn, qoe, window_end=now, views=views) for cdn, qoe in qoes.items())
        decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, now)
        out.append((decision.priority, decision.reason.code, decision.version))
    return out


def test_initial_decision_ranks_by_qoe_and_appends_untrusted_in_default_order() -> None:
    config = policy_config()
    scores = board(score("cdn-c", 90), score("cdn-b", 70), score("cdn-a", 95, views=3))
    decision, state = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)
    assert decision.priority == ("cdn-c", "cdn-b", "cdn-a")  # cdn-a has too few views to trust
    assert decision.reason.code is ReasonCode.INITIAL
    assert decision.changed and state.version == 1 and state.incumbent == "cdn-c"
    assert set(decision.figures) == {"cdn-b", "cdn-c"}


def test_preference_points_adjust_the_ranking() -> None:
    scores = board(score("cdn-a", 83), score("cdn-b", 80))
    plain, _ = decide_group(policy_config(), GroupState(), NO_MOBILE_LIVE, scores, T0)
    cheap_b, _ = decide_group(policy_config(preference={"cdn-b": 5.0}), GroupState(), NO_MOBILE_LIVE, scores, T0)
    assert plain.priority[0] == "cdn-a"
    assert cheap_b.priority[0] == "cdn-b"
    assert cheap_b.figures["cdn-b"].adjusted == 85.0


def test_minimum_samples_before_trusting_a_figure() -> None:
    config = policy_config(("cdn-a", "cdn-b"), min_views=100, emergency_margin=5.0)
    state = GroupState()
    scores = board(score("cdn-a", 70, views=1000), score("cdn-b", 95, views=99))
    decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, T0)
    assert decision.priority == ("cdn-a", "cdn-b")
    assert "cdn-b" not in decision.figures
    scores.put(score("cdn-b", 95, views=100, window_end=later(60)))
    decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, later(60))
    assert decision.priority[0] == "cdn-b" and decision.reason.code is ReasonCode.EMERGENCY


def test_hysteresis_no_flap_when_two_cdns_alternate_slightly() -> None:
    config = policy_config(("cdn-a", "cdn-b"))
    # Both sides of the margin: small alternating leads, then larger ones that never hold.
    small = [{"cdn-a": 80 + (i % 2) * 2, "cdn-b": 81} for i in range(30)]
    large = [{"cdn-a": 80 if i % 2 else 86, "cdn-b": 83} for i in range(30)]
    for windows in (small, large):
        results = run_windows(config, windows)
        firsts = {priority[0] for priority, _, _ in results}
        assert len(firsts) == 1, f"flapped: {firsts}"
        assert results[-1][2] == 1  # one version: the initial decision, never changed since


def test_challenger_must_hold_its_lead_for_time_and_windows() -> None:
    config = policy_config(("cdn-a", "cdn-b"), switch_margin=3.0, switch_hold_s=60.0, switch_windows=2)
    windows = [{"cdn-a": 85, "cdn-b": 80}] + [{"cdn-a": 80, "cdn-b": 85}] * 4
    results = run_windows(config, windows, step_s=30.0)
    codes = [code for _, code, _ in results]
    firsts = [priority[0] for priority, _, _ in results]
    assert codes == [
        ReasonCode.INITIAL,
        ReasonCode.CHALLENGER_PENDING,  # t=30 s: lead starts
        ReasonCode.CHALLENGER_PENDING,  # t=60 s: 30 s held, 2 windows
        ReasonCode.SWITCH,  # t=90 s: 60 s held over 3 windows
        ReasonCode.INCUMBENT_BEST,
    ]
    assert firsts == ["cdn-a", "cdn-a", "cdn-a", "cdn-b", "cdn-b"]


def test_challenger_lead_needs_new_windows_not_just_time() -> None:
    config = policy_config(("cdn-a", "cdn-b"), switch_hold_s=30.0, switch_windows=2)
    scores = board(score("cdn-a", 85), score("cdn-b", 80))
    state = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)[1]
    scores.put_all([score("cdn-a", 80, window_end=later(1)), score("cdn-b", 85, window_end=later(1))])
    for seconds in (1, 60, 120):  # the same single window, re-read for two minutes
        decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, later(seconds))
        assert decision.priority[0] == "cdn-a"
    scores.put(score("cdn-b", 85, window_end=later(121)))
    decision, state = decide_group(config, state, NO_MOBILE_LIVE, scores, later(121))
    assert decision.priority[0] == "cdn-b" and decision.reason.code is ReasonCode.SWITCH


def test_emergency_switches_at_once() -> None:
    config = policy_config(("cdn-a", "cdn-b"))
    results = run_windows(config, [{"cdn-a": 85, "cdn-b": 80}, {"cdn-a": 30, "cdn-b": 80}])
    assert results[1][0][0] == "cdn-b" and results[1][1] is ReasonCode.EMERGENCY


def test_stale_data_falls_back_to_the_default_order() -> None:
    config = policy_config(max_age_s=120)
    scores = board(score("cdn-c", 95), score("cdn-b", 90), score("cdn-a", 50))
    fresh, state = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, later(60))
    assert fresh.priority == ("cdn-c", "cdn-b", "cdn-a")
    stale, state = decide_group(config, state, NO_MOBILE_LIVE, scores, later(121))
    assert stale.priority == config.pathways
    assert stale.reason.code is ReasonCode.STALE and stale.changed
    missing, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, ScoreBoard(), T0)
    assert missing.priority == config.pathways and missing.reason.code is ReasonCode.NO_DATA


def test_incumbent_without_figures_yields_to_a_trusted_cdn() -> None:
    config = policy_config(("cdn-a", "cdn-b"))
    scores = board(score("cdn-a", 85), score("cdn-b", 80))
    state = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)[1]
    scores.put(score("cdn-b", 80, window_end=later(200)))  # cdn-a's last figure is now stale
    decision, _ = decide_group(config, state, NO_MOBILE_LIVE, scores, later(200))
    assert decision.priority == ("cdn-b", "cdn-a")
    assert decision.reason.code is ReasonCode.INCUMBENT_NO_DATA


def test_fallback_order_is_sticky_for_close_scores() -> None:
    config = policy_config(("cdn-a", "cdn-b", "cdn-c"), switch_margin=3.0)
    results = run_windows(
        config,
        [
            {"cdn-a": 90, "cdn-b": 80, "cdn-c": 79},
            {"cdn-a": 90, "cdn-b": 79, "cdn-c": 81},  # c leads b by 2: keep b before c
            {"cdn-a": 90, "cdn-b": 76, "cdn-c": 81},  # by 5: swap
        ],
    )
    assert [priority for priority, _, _ in results] == [
        ("cdn-a", "cdn-b", "cdn-c"),
        ("cdn-a", "cdn-b", "cdn-c"),
        ("cdn-a", "cdn-c", "cdn-b"),
    ]


def test_pathways_share_the_figures_of_their_cdn() -> None:
    config = policy_config(("a-eu", "a-us", "b"), pathway_cdn={"a-eu": "cdn-a", "a-us": "cdn-a", "b": "cdn-b"})
    scores = board(score("cdn-a", 90), score("cdn-b", 80))
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)
    assert decision.priority == ("a-eu", "a-us", "b")
    assert decision.figures["a-us"].cdn == "cdn-a"


# --- caps -------------------------------------------------------------------------------------


def test_cap_spill_moves_the_excess_share_and_holds_at_the_fixed_point() -> None:
    config = policy_config(("cdn-a", "cdn-b"), caps={"cdn-a": 0.5})
    first = update_caps(config, {}, board(*global_shares({"cdn-a": 800, "cdn-b": 200})), T0)
    assert first["cdn-a"].spill == pytest.approx(1 - 0.5 / 0.8)  # 0.375
    # Next window, with 37.5 % of cdn-a's leader requests moved, cdn-a sits at its cap.
    at_cap = board(*global_shares({"cdn-a": 500, "cdn-b": 500}, window_end=later(60)))
    second = update_caps(config, first, at_cap, later(60))
    assert second["cdn-a"].spill == pytest.approx(first["cdn-a"].spill)
    # The same window read again changes nothing; a stale window clears the spill.
    assert update_caps(config, second, at_cap, later(70)) == second
    assert update_caps(config, second, at_cap, later(1000))["cdn-a"] == CapState()


def test_cap_spill_is_bounded_so_the_cdn_stays_measured() -> None:
    config = policy_config(("cdn-a", "cdn-b"), caps={"cdn-a": 0.05})
    caps = update_caps(config, {}, board(*global_shares({"cdn-a": 990, "cdn-b": 10})), T0)
    assert caps["cdn-a"].spill == MAX_SPILL


def test_capped_leader_is_demoted_for_the_spill_share_of_requests() -> None:
    config = policy_config(("cdn-a", "cdn-b", "cdn-c"), caps={"cdn-a": 0.5}, explore_rate=0.0)
    scores = board(score("cdn-a", 90), score("cdn-b", 85), score("cdn-c", 80))
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)
    rng = random.Random(1)
    orders = Counter(client_order(config, decision, {"cdn-a": 0.375}, rng).priority for _ in range(20_000))
    assert set(orders) == {("cdn-a", "cdn-b", "cdn-c"), ("cdn-b", "cdn-a", "cdn-c")}
    assert orders[("cdn-b", "cdn-a", "cdn-c")] / 20_000 == pytest.approx(0.375, abs=0.015)
    capped = client_order(config, decision, {"cdn-a": 1.0}, rng)
    assert capped.capped and capped.reason.code is ReasonCode.CAP


def test_no_demotion_when_every_alternative_is_capped_too() -> None:
    config = policy_config(("cdn-a", "cdn-b"), explore_rate=0.0)
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, board(score("cdn-a", 90)), T0)
    result = client_order(config, decision, {"cdn-a": 1.0, "cdn-b": 0.5}, random.Random(0))
    assert result.priority == ("cdn-a", "cdn-b") and not result.capped


# --- exploration ------------------------------------------------------------------------------


def test_exploration_rate_is_bounded_and_covers_alternatives() -> None:
    config = policy_config(explore_rate=0.05)
    scores = board(score("cdn-a", 90), score("cdn-b", 85), score("cdn-c", 84))
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)
    rng = random.Random(42)
    n = 40_000
    results = [client_order(config, decision, {}, rng) for _ in range(n)]
    explored = Counter(r.priority[0] for r in results if r.exploring)
    rate = sum(explored.values()) / n
    assert rate == pytest.approx(0.05, abs=0.005)
    assert set(explored) == {"cdn-b", "cdn-c"}
    assert all(r.priority[0] == "cdn-a" for r in results if not r.exploring)
    assert all(sorted(r.priority) == sorted(config.pathways) for r in results)


@pytest.mark.parametrize("rate", [-0.01, 0.26, 1.0])
def test_exploration_rate_outside_bounds_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="explore_rate"):
        policy_config(explore_rate=rate)


def test_never_explores_a_cdn_known_to_be_far_worse_or_capped() -> None:
    config = policy_config(explore_rate=0.25, explore_max_gap=25.0)
    scores = board(score("cdn-a", 90), score("cdn-b", 40), score("cdn-c", 85))
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, scores, T0)
    rng = random.Random(3)
    explored = {client_order(config, decision, {}, rng).priority[0] for _ in range(2000)}
    assert explored == {"cdn-a", "cdn-c"}
    explored_capped = {client_order(config, decision, {"cdn-c": 0.5}, rng).priority[0] for _ in range(2000)}
    assert explored_capped == {"cdn-a"}


def test_no_exploration_at_rate_zero() -> None:
    config = policy_config(explore_rate=0.0)
    decision, _ = decide_group(config, GroupState(), NO_MOBILE_LIVE, board(score("cdn-b", 90)), T0)
    rng = random.Random(5)
    assert not any(client_order(config, decision, {}, rng).exploring for _ in range(5000))


def test_policy_is_deterministic_given_the_seed() -> None:
    policy = SteeringPolicy(policy_config(explore_rate=0.2))
    scores = board(score("cdn-a", 90), score("cdn-b", 85), score("cdn-c", 84))

    def replay(seed: int) -> list[tuple[str, ...]]:
        rng, state, out = random.Random(seed), GroupState(), []
        for i in range(300):
            decision, state = policy.decide(NO_MOBILE_LIVE, state, scores, later(i), rng)
            out.append(decision.priority)
        return out

    assert replay(11) == replay(11)
    assert replay(11) != replay(12)


def test_decide_without_exploration_returns_the_group_order() -> None:
    policy = SteeringPolicy(policy_config(explore_rate=0.25))
    scores = board(score("cdn-a", 90), score("cdn-b", 85))
    rng = random.Random(0)
    for _ in range(200):
        decision, _ = policy.decide(NO_MOBILE_LIVE, GroupState(), scores, T0, rng, explore=False)
        assert decision.priority == decision.group_decision.priority and not decision.exploring


def test_policy_in_virtual_time_with_per_segment_feedback() -> None:
    """How a simulator's CDN chooser drives the policy: decide, play, feed figures back."""
    policy = SteeringPolicy(policy_config(("cdn-a", "cdn-b"), explore_rate=0.1))
    true_qoe = {"cdn-a": 70.0, "cdn-b": 88.0}
    scores, state, rng = ScoreBoard(min_views=20), GroupState(), random.Random(9)
    segments: Counter[str] = Counter()
    window: dict[str, list[float]] = {"cdn-a": [], "cdn-b": []}
    clock = T0
    for segment in range(1200):  # 4 s segments: 80 virtual minutes
        clock = T0 + timedelta(seconds=4 * segment)
        decision, state = policy.decide(Group("NO"), state, scores, clock, rng)
        cdn = decision.priority[0]
        segments[cdn] += 1
        window[cdn].append(true_qoe[cdn] + rng.gauss(0, 3))
        if segment % 15 == 14:  # every minute, publish the window's figures
            publish_window(scores, window, clock)
    assert state.incumbent == "cdn-b"
    assert segments["cdn-b"] > 0.8 * sum(segments.values())


def publish_window(scores: ScoreBoard, window: dict[str, list[float]], end: datetime) -> None:
    for cdn, values in window.items():
        if values:
            scores.put(
                CdnScore(cdn, Group("NO"), len(values) * 10, 0.01, 900.0, 0.0, 4000.0, sum(values) / len(values), end)
            )
            scores.put(CdnScore(cdn, GLOBAL, len(values) * 10, 0.01, 900.0, 0.0, 4000.0, 80.0, end))
        values.clear()
