from __future__ import annotations

import random

import pytest

from delivery.steering.manifest import PathwayClone, ReloadState, SteeringQuery
from delivery.steering.policy import PolicyConfig, ReasonCode
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import DecisionRecord, SteeringConfig, SteeringService
from schemas.steering import GLOBAL, Group
from tests.factories.delivery import NO_MOBILE_LIVE, PATHWAYS, T0, global_shares, later, score, steering_service


def test_only_priority_changes_reach_the_decision_log() -> None:
    service, decisions = steering_service(score("cdn-b", 90), score("cdn-a", 80), explore_rate=0.0)
    for _ in range(20):
        service.steer(NO_MOBILE_LIVE)
    assert len(decisions.records) == 1
    service.board.put(score("cdn-a", 78, window_end=later(60)))  # a small move: no change, no row
    service.steer(NO_MOBILE_LIVE, now=later(60))
    service.board.put(score("cdn-b", 30, window_end=later(120)))  # cdn-b collapses: emergency switch
    service.steer(NO_MOBILE_LIVE, now=later(120))
    assert [r.reason_code for r in decisions.records] == ["initial", "emergency"]
    last = decisions.records[-1]
    assert (last.from_pathway, last.to_pathway, last.version) == ("cdn-b", "cdn-a", 2)
    assert service.stats.requests == 22 and service.stats.priority_changes == 2


def test_decision_record_row_has_the_proposed_columns() -> None:
    service, decisions = steering_service(score("cdn-b", 90, views=700), score("cdn-a", 80), explore_rate=0.0)
    service.steer(NO_MOBILE_LIVE)
    row = decisions.records[0].to_row()
    assert row == {
        "decided_at": T0.isoformat(),
        "instance": "steering",
        "config_id": service.config.config_id,
        "group_key": "NO/2119/mobile/live",
        "country": "NO",
        "asn": 2119,
        "device": "mobile",
        "stream_type": "live",
        "version": 1,
        "from_pathway": "",
        "to_pathway": "cdn-b",
        "previous_priority": [],
        "priority": ["cdn-b", "cdn-a", "cdn-c"],
        "reason_code": "initial",
        "reason_text": "cdn-b has the best QoE for this group",
        "figure_pathway": ["cdn-a", "cdn-b"],
        "figure_qoe": [80.0, 90.0],
        "figure_adjusted": [80.0, 90.0],
        "figure_views": [500, 700],
        "figure_level": [0, 0],
    }


def test_a_failing_decision_log_does_not_fail_steering() -> None:
    def broken(record: DecisionRecord) -> None:
        raise ConnectionError("kafka down")

    config = SteeringConfig(PolicyConfig(PATHWAYS, explore_rate=0.0))  # the order asserted is the group's
    service = SteeringService(config, ScoreBoard(), decision_log=broken, rng=random.Random(0), clock=lambda: T0)
    assert service.steer(NO_MOBILE_LIVE).priority == PATHWAYS
    assert service.stats.decision_log_failures == 1


def test_group_states_are_bounded_least_recently_used_first() -> None:
    config = SteeringConfig(PolicyConfig(PATHWAYS), max_groups=3)
    service = SteeringService(config, ScoreBoard(), clock=lambda: T0)
    groups = [Group("NO", asn) for asn in range(5)]
    for group in groups:
        service.steer(group)
    service.steer(groups[2])
    service.steer(Group("SE"))
    assert set(service._states) == {groups[4], groups[2], Group("SE")}


def test_caps_are_applied_by_the_service() -> None:
    service, _ = steering_service(
        score("cdn-a", 90, group=Group("NO")),
        *global_shares({"cdn-a": 900, "cdn-b": 100}),
        caps={"cdn-a": 0.5},
        explore_rate=0.0,
    )
    firsts = [service.steer(Group("NO")).priority[0] for _ in range(4000)]
    demoted = firsts.count("cdn-b") / len(firsts)
    assert demoted == pytest.approx(1 - 0.5 / 0.9, abs=0.03)
    assert service.stats.capped == firsts.count("cdn-b")


def test_manifest_carries_state_and_clones() -> None:
    clone = PathwayClone("cdn-a", "cdn-a-2", params={"edge": "2"})
    service, _ = steering_service(score("cdn-c", 95, group=GLOBAL), clones=(clone,), explore_rate=0.0, ttl_s=15)
    document, decision = service.manifest(SteeringQuery("dash", GLOBAL))
    assert document["TTL"] == 15
    assert document["PATHWAY-PRIORITY"] == list(decision.priority) == ["cdn-c", "cdn-a", "cdn-b", "cdn-a-2"]
    assert document["RELOAD-URI"] == "dash?qoe_v=1&qoe_p=cdn-c,cdn-a,cdn-b,cdn-a-2"
    assert document["PATHWAY-CLONES"][0]["ID"] == "cdn-a-2"


def test_a_fresh_replica_continues_from_the_order_clients_report() -> None:
    figures = (score("cdn-a", 80), score("cdn-b", 86), score("cdn-c", 70))
    reported = ReloadState(version=4, priority=("cdn-a", "cdn-b", "cdn-c"))
    resumed, decisions = steering_service(*figures, explore_rate=0.0)
    query = SteeringQuery("hls", NO_MOBILE_LIVE, current_pathway="cdn-a", state=reported)
    _, decision = resumed.manifest(query)
    # cdn-b leads by 6: a challenger that must hold its lead, not a fresh "initial" switch.
    assert decision.priority[0] == "cdn-a"
    assert decision.reason.code is ReasonCode.CHALLENGER_PENDING
    assert decision.group_decision.version == 4 and not decision.changed and decisions.records == []
    assert resumed.stats.resumed_groups == 1 and resumed.stats.client_switches == 0

    fresh, _ = steering_service(*figures, explore_rate=0.0)
    personal = SteeringQuery("hls", NO_MOBILE_LIVE, state=ReloadState(4, reported.priority, personal=True))
    _, decision = fresh.manifest(personal)  # an exploring client's order is not the group's
    assert decision.priority[0] == "cdn-b" and decision.reason.code is ReasonCode.INITIAL
    assert fresh.stats.resumed_groups == 0 and fresh.stats.client_switches == 1


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="clone"):
        SteeringConfig(PolicyConfig(("a", "b")), clones=(PathwayClone("a", "c", host="h"),))
    with pytest.raises(ValueError, match="ttl"):
        SteeringConfig(PolicyConfig(("a",)), ttl_s=0)
    with pytest.raises(ValueError, match="illegal pathway"):
        PolicyConfig(("a b",))
    with pytest.raises(ValueError, match="unique"):
        PolicyConfig(("a", "a"))


def test_seeded_services_replay_identically() -> None:
    def run(seed: int) -> list[tuple[str, ...]]:
        config = SteeringConfig(PolicyConfig(PATHWAYS, explore_rate=0.2))
        board = ScoreBoard()
        board.put_all([score("cdn-a", 90), score("cdn-b", 85), score("cdn-c", 80)])
        service = SteeringService(config, board, rng=random.Random(seed), clock=lambda: T0)
        return [service.steer(NO_MOBILE_LIVE).priority for _ in range(200)]

    assert run(1) == run(1)
