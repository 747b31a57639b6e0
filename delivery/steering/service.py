"""The steering service: scoreboard + policy state + configuration, and the decision log.

One :class:`SteeringService` per process. The HTTP layer (:mod:`delivery.steering.api`) gets it
through a FastAPI dependency; a simulator can call :meth:`SteeringService.steer` directly with
its own virtual clock.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from delivery.steering.manifest import (
    MAX_TTL_S,
    PathwayClone,
    ReloadState,
    SteeringQuery,
    build_manifest,
    reload_uri,
)
from delivery.steering.policy import CapState, Decision, GroupState, PolicyConfig, SteeringPolicy, update_caps
from delivery.steering.scores import ScoreBoard
from foundation.settings import Settings, default_of
from schemas.steering import Group

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SteeringConfig:
    policy: PolicyConfig
    ttl_s: int = default_of("steering_ttl_s")  # QoE-driven deployments use 10-30 s (REFERENCE §6)
    clones: tuple[PathwayClone, ...] = ()
    enabled: bool = True  # False: answer 410 so players stop steering (a kill switch)
    max_groups: int = 100_000  # group states kept in memory (least recently used evicted)

    def __post_init__(self) -> None:
        if not 1 <= self.ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be within 1..{MAX_TTL_S}")
        if self.max_groups < 1:
            raise ValueError("max_groups must be >= 1")
        known = set(self.policy.pathways)
        for clone in self.clones:
            if clone.id not in known or clone.base_id not in known:
                raise ValueError(f"clone {clone.id!r} and its base {clone.base_id!r} must both be configured pathways")

    @classmethod
    def from_settings(cls, settings: Settings) -> SteeringConfig:
        """The gateway's steering configuration."""
        return cls(PolicyConfig.from_settings(settings), ttl_s=settings.steering_ttl_s)

    @property
    def config_id(self) -> str:
        """A short fingerprint of the configuration, logged with each decision."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class DecisionRecord:
    """One change of a group's priority: a row of the ``steering_decisions`` table."""

    decided_at: datetime
    instance: str
    config_id: str
    group: Group
    version: int
    previous_priority: tuple[str, ...]
    priority: tuple[str, ...]
    reason_code: str
    reason_text: str
    figures: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # pathway → qoe, adjusted, views, level

    @property
    def from_pathway(self) -> str:
        return self.previous_priority[0] if self.previous_priority else ""

    @property
    def to_pathway(self) -> str:
        return self.priority[0]

    def to_row(self) -> dict[str, Any]:
        """JSON-ready, flat, with the column names proposed for ClickHouse."""
        pathways = sorted(self.figures)
        return {
            "decided_at": self.decided_at.isoformat(),
            "instance": self.instance,
            "config_id": self.config_id,
            "group_key": self.group.key,
            "country": self.group.country,
            "asn": self.group.asn,
            "device": self.group.device,
            "stream_type": self.group.stream_type,
            "version": self.version,
            "from_pathway": self.from_pathway,
            "to_pathway": self.to_pathway,
            "previous_priority": list(self.previous_priority),
            "priority": list(self.priority),
            "reason_code": self.reason_code,
            "reason_text": self.reason_text,
            "figure_pathway": pathways,
            "figure_qoe": [self.figures[p]["qoe"] for p in pathways],
            "figure_adjusted": [self.figures[p]["adjusted"] for p in pathways],
            "figure_views": [int(self.figures[p]["views"]) for p in pathways],
            "figure_level": [int(self.figures[p]["level"]) for p in pathways],
        }


class DecisionLog(Protocol):
    """Where priority changes go (Kafka → ClickHouse in production). Must not block for long."""

    def __call__(self, record: DecisionRecord) -> None: ...


class InMemoryDecisionLog:
    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def __call__(self, record: DecisionRecord) -> None:
        self.records.append(record)


@dataclass
class SteeringStats:
    requests: int = 0
    priority_changes: int = 0
    explored: int = 0
    capped: int = 0
    client_switches: int = 0  # clients told to change their first pathway
    resumed_groups: int = 0  # group states continued from a client's RELOAD-URI state
    decision_log_failures: int = 0


class SteeringService:
    """Holds the board, per-group policy state and configuration; decides and logs changes."""

    def __init__(
        self,
        config: SteeringConfig,
        board: ScoreBoard,
        *,
        decision_log: DecisionLog | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
        instance: str = "steering",
    ) -> None:
        self.config = config
        self.board = board
        self.policy = SteeringPolicy(config.policy)
        self.decision_log = decision_log
        self.rng = rng or random.Random()
        self.clock = clock
        self.instance = instance
        self.stats = SteeringStats()
        self._states: OrderedDict[Group, GroupState] = OrderedDict()
        self._caps: dict[str, CapState] = {}
        self._lock = threading.Lock()

    @property
    def pathways(self) -> Sequence[str]:
        return self.config.policy.pathways

    def group_state(self, group: Group) -> GroupState:
        return self._states.get(group, GroupState())

    def group_states(self) -> list[tuple[Group, GroupState]]:
        """Every group this replica has decided for, most recently asked last."""
        with self._lock:
            return list(self._states.items())

    def steer(
        self,
        group: Group,
        *,
        explore: bool = True,
        now: datetime | None = None,
        reported: ReloadState | None = None,
    ) -> Decision:
        """Decide for one client of ``group`` (``explore=False``: the group's own order).

        ``reported``: what the client says it was told last (from the RELOAD-URI).
        """
        now = now or self.clock()
        with self._lock:
            self._caps = update_caps(self.config.policy, self._caps, self.board, now)
            spill = {cdn: cap.spill for cdn, cap in self._caps.items()}
            state = self._state_for(group, reported)
            decision, state = self.policy.decide(group, state, self.board, now, self.rng, spill=spill, explore=explore)
            self._remember(group, state)
            self._count(decision, reported)
        if decision.changed:
            self._log_change(decision)
        return decision

    def manifest(self, query: SteeringQuery, *, now: datetime | None = None) -> tuple[dict[str, Any], Decision]:
        decision = self.steer(query.group, now=now, reported=query.state)
        personal = decision.exploring or decision.capped
        state = ReloadState(decision.group_decision.version, decision.priority, personal=personal)
        document = build_manifest(
            decision.priority,
            ttl_s=self.config.ttl_s,
            reload=reload_uri(query.protocol, query.group, state),
            clones=self.config.clones,
        )
        return document, decision

    def default_manifest(self, query: SteeringQuery) -> dict[str, Any]:
        """The safe default order, for when deciding failed."""
        return build_manifest(
            self.pathways,
            ttl_s=self.config.ttl_s,
            reload=reload_uri(query.protocol, query.group, ReloadState()),
            clones=self.config.clones,
        )

    def _state_for(self, group: Group, reported: ReloadState | None) -> GroupState:
        known = self._states.get(group)
        if known is not None:
            return known
        if reported is None or reported.personal or set(reported.priority) != set(self.pathways):
            return GroupState()
        self.stats.resumed_groups += 1
        return GroupState(priority=reported.priority, version=reported.version)

    def _remember(self, group: Group, state: GroupState) -> None:
        self._states[group] = state
        self._states.move_to_end(group)
        while len(self._states) > self.config.max_groups:
            self._states.popitem(last=False)

    def _count(self, decision: Decision, reported: ReloadState | None) -> None:
        self.stats.requests += 1
        if reported is not None and reported.priority:
            self.stats.client_switches += reported.priority[0] != decision.priority[0]
        self.stats.priority_changes += decision.changed
        self.stats.explored += decision.exploring
        self.stats.capped += decision.capped

    def _log_change(self, decision: Decision) -> None:
        if self.decision_log is None:
            return
        group_decision = decision.group_decision
        record = DecisionRecord(
            decided_at=group_decision.decided_at,
            instance=self.instance,
            config_id=self.config.config_id,
            group=group_decision.group,
            version=group_decision.version,
            previous_priority=group_decision.previous_priority,
            priority=group_decision.priority,
            reason_code=group_decision.reason.code.value,
            reason_text=group_decision.reason.text,
            figures={
                pathway: {
                    "qoe": figure.lookup.score.qoe_score,
                    "adjusted": figure.adjusted,
                    "views": figure.lookup.score.views,
                    "level": figure.lookup.level,
                }
                for pathway, figure in group_decision.figures.items()
            },
        )
        try:
            self.decision_log(record)
        except Exception:
            # Losing an audit row must not fail a viewer's steering request.
            self.stats.decision_log_failures += 1
            log.exception("steering decision log failed for group %s", record.group.key)
