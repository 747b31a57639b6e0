"""The steering policy: which pathway (CDN) a group of clients should prefer, and why.

It works in two layers, both pure functions of their inputs so that the HTTP service and a
simulator running in virtual time can drive them the same way:

1. :func:`decide_group`: the group's exploitation order, with hysteresis. The leader by QoE
   (plus a per-CDN preference for cost) only replaces the incumbent after it has led by a margin
   for a while and over several score windows, unless the incumbent is collapsing. With no fresh,
   well-sampled figures the group falls back to the configured safe default order.
2. :func:`client_order`: what one client is told. A CDN over its traffic cap is demoted for a
   share of requests, and a small, bounded share of requests explores an alternative so its
   figures stay fresh (ε-greedy per group of similar sessions, after Pytheas, REFERENCE §6).

State is an explicit frozen :class:`GroupState` per group (a few fields) and a :class:`CapState`
per capped CDN; callers keep them and pass them back in.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from delivery.steering.scores import ScoreBoard, ScoreLookup
from foundation.settings import Settings, default_of
from schemas.steering import GLOBAL, Group

PATHWAY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # legal HLS Pathway IDs
MAX_EXPLORE_RATE: Final = 0.25
MAX_SPILL: Final = 0.9  # never move all of a capped CDN's traffic away: keep measuring it


class ReasonCode(StrEnum):
    INITIAL = "initial"  # first decision for this group
    INCUMBENT_BEST = "incumbent_best"
    WITHIN_MARGIN = "within_margin"  # a challenger leads, by less than the margin
    CHALLENGER_PENDING = "challenger_pending"  # leads by the margin, not yet for long enough
    SWITCH = "switch"  # the challenger held its lead: it becomes the incumbent
    EMERGENCY = "emergency"  # the incumbent is far behind: switch at once
    DEGRADED = "degraded"  # the incumbent's throughput collapsed for its own viewers: switch at once
    INCUMBENT_NO_DATA = "incumbent_no_data"  # the incumbent lost its figures; others have them
    NO_DATA = "no_data"  # no trusted figure at all: default order
    STALE = "stale"  # figures exist but are too old: default order
    CAP = "cap"  # this request: the leader is over its traffic cap
    EXPLORE = "explore"  # this request: exploring an alternative


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    text: str


@dataclass(frozen=True)
class PolicyConfig:
    """Everything the policy needs besides the live figures. Weights and caps are keyed by CDN.

    The fields that are settings (``QOE_STEERING_*``) default to the settings' defaults;
    :meth:`from_settings` builds the gateway's configuration.
    """

    pathways: tuple[str, ...]  # every pathway, in the safe default order
    pathway_cdn: Mapping[str, str] = field(default_factory=dict)  # pathway → CDN (default: same name)
    preference: Mapping[str, float] = field(default_factory=dict)  # QoE points added (cost/preference)
    caps: Mapping[str, float] = field(default_factory=dict)  # max share of all views, in (0, 1]
    min_views: int = default_of("steering_min_views")  # fewer views than this and a figure is not trusted
    max_age_s: float = default_of("steering_max_age_s")  # older figures are stale
    switch_margin: float = default_of("steering_switch_margin")  # QoE points a challenger must lead by ...
    switch_hold_s: float = default_of("steering_switch_hold_s")  # ... for this long ...
    switch_windows: int = 2  # ... over this many distinct score windows
    emergency_margin: float = default_of("steering_emergency_margin")  # a lead this large switches at once
    explore_rate: float = default_of("steering_explore_rate")  # share of client requests that explore
    explore_max_gap: float = 25.0  # never explore a CDN known to be this far behind the leader
    # Without any figure for a group, spread its clients evenly over the pathways (as static
    # assignment does) instead of sending all of them down the default order: every CDN gets
    # measured from the start, and no single CDN carries everyone while nothing is known.
    # Deliberately not the setting's default (True, the gateway's choice): the bare policy, as
    # tests and the steering benchmark use it, keeps the plain default order (docs/steering.md).
    spread_without_data: bool = False
    # Degradation: the median viewer of the incumbent gets at most this share of its own recent
    # throughput, and an alternative's median viewer at least ``healthy_ratio``: switch at once.
    # QoE figures see a slowdown only as buffers drain; throughput shows it on the next download.
    # None: no degradation rule (QoE figures only).
    degraded_ratio: float | None = 0.7
    healthy_ratio: float = 0.85
    # A throughput ratio is a median of per-view ratios (each view its own control), far less noisy
    # than a mean QoE over different viewers: an alternative's health is trusted from fewer views.
    health_min_views: int = 5  # (over the window's views)
    degraded_min_views: int = 10  # … while the incumbent's collapse must be seen by this many recent downloads

    def __post_init__(self) -> None:
        if not self.pathways:
            raise ValueError("at least one pathway is needed")
        if len(set(self.pathways)) != len(self.pathways):
            raise ValueError(f"pathways must be unique: {self.pathways}")
        for pathway in self.pathways:
            if not PATHWAY_ID.match(pathway):
                raise ValueError(f"illegal pathway id {pathway!r}: use 1-64 of [A-Za-z0-9._-]")
        unknown = set(self.pathway_cdn) - set(self.pathways)
        if unknown:
            raise ValueError(f"pathway_cdn names unknown pathways: {sorted(unknown)}")
        for cdn, cap in self.caps.items():
            if not 0 < cap <= 1:
                raise ValueError(f"cap of {cdn} must be a share in (0, 1], got {cap}")
        if not 0 <= self.explore_rate <= MAX_EXPLORE_RATE:
            raise ValueError(f"explore_rate must be within [0, {MAX_EXPLORE_RATE}], got {self.explore_rate}")
        for name in ("switch_margin", "switch_hold_s", "emergency_margin", "explore_max_gap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.emergency_margin < self.switch_margin:
            raise ValueError("emergency_margin must be >= switch_margin")
        if self.degraded_ratio is not None and not 0 < self.degraded_ratio < self.healthy_ratio:
            raise ValueError("need 0 < degraded_ratio < healthy_ratio")
        counts = (self.health_min_views, self.degraded_min_views, self.min_views, self.switch_windows)
        if min(counts) < 1 or self.max_age_s <= 0:
            raise ValueError("min_views and switch_windows must be >= 1, max_age_s > 0")
        # Freeze the mappings so a shared config cannot change under a running service.
        for name in ("pathway_cdn", "preference", "caps"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        """The gateway's policy: every pathway of the settings, with their ``QOE_STEERING_*`` values."""
        return cls(
            settings.steering_pathway_list,
            min_views=settings.steering_min_views,
            max_age_s=settings.steering_max_age_s,
            switch_margin=settings.steering_switch_margin,
            switch_hold_s=settings.steering_switch_hold_s,
            emergency_margin=settings.steering_emergency_margin,
            explore_rate=settings.steering_explore_rate,
            spread_without_data=settings.steering_spread_without_data,
        )

    def cdn_of(self, pathway: str) -> str:
        return self.pathway_cdn.get(pathway, pathway)

    @property
    def cdns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.cdn_of(p) for p in self.pathways))


@dataclass(frozen=True, slots=True)
class GroupState:
    """What the policy remembers about one group between decisions."""

    priority: tuple[str, ...] = ()  # the group's last exploitation order; [0] is the incumbent
    version: int = 0  # bumped on every change of ``priority``
    changed_at: datetime | None = None
    challenger: str | None = None
    challenger_since: datetime | None = None
    challenger_windows: int = 0  # distinct score windows over which the challenger led
    challenger_last_window: datetime | None = None
    provisional: bool = False  # ``priority`` is the default order, chosen without any figure

    @property
    def incumbent(self) -> str | None:
        return self.priority[0] if self.priority else None

    def without_challenger(self) -> GroupState:
        return replace(self, challenger=None, challenger_since=None, challenger_windows=0, challenger_last_window=None)


@dataclass(frozen=True, slots=True)
class CapState:
    """Share of the requests whose leader is demoted because its CDN is over its cap."""

    spill: float = 0.0
    window_end: datetime | None = None  # the global window the spill was computed from


@dataclass(frozen=True, slots=True)
class Figure:
    """A pathway's trusted figure as the policy used it."""

    pathway: str
    cdn: str
    lookup: ScoreLookup
    adjusted: float  # QoE score + preference


@dataclass(frozen=True)
class GroupDecision:
    group: Group
    priority: tuple[str, ...]
    previous_priority: tuple[str, ...]
    reason: Reason
    version: int
    decided_at: datetime
    figures: Mapping[str, Figure]  # trusted pathways only

    @property
    def changed(self) -> bool:
        return self.priority != self.previous_priority


@dataclass(frozen=True)
class Decision:
    """The group's decision plus what this one client is told."""

    group_decision: GroupDecision
    priority: tuple[str, ...]  # for this client (may differ from the group's when capping/exploring)
    reason: Reason  # the per-request reason when it applies, else the group's
    exploring: bool = False
    capped: bool = False

    @property
    def group(self) -> Group:
        return self.group_decision.group

    @property
    def changed(self) -> bool:
        """Whether the group's priority changed versus its previous decision."""
        return self.group_decision.changed


# --- group layer --------------------------------------------------------------------------------


def trusted_figures(config: PolicyConfig, group: Group, board: ScoreBoard, now: datetime) -> dict[str, Figure]:
    figures = {}
    for pathway in config.pathways:
        cdn = config.cdn_of(pathway)
        found = board.lookup(cdn, group, now, min_views=config.min_views, max_age_s=config.max_age_s)
        if found is not None:
            adjusted = found.score.qoe_score + config.preference.get(cdn, 0.0)
            figures[pathway] = Figure(pathway, cdn, found, adjusted)
    return figures


def _best(figures: Mapping[str, Figure], default_order: Sequence[str]) -> str:
    # Ties go to the earlier pathway of the default order.
    return max(figures, key=lambda p: (figures[p].adjusted, -default_order.index(p)))


def _sticky_order(previous: Sequence[str], scores: Mapping[str, float], margin: float) -> list[str]:
    """Order by score, but keep the previous order unless one leads the one above by > margin.

    Each swap puts a strictly better pathway first and is never undone, so this terminates.
    """
    order = [p for p in previous if p in scores]
    order += sorted((p for p in scores if p not in order), key=lambda p: -scores[p])
    swapped = True
    while swapped:
        swapped = False
        for i in range(len(order) - 1):
            if scores[order[i + 1]] - scores[order[i]] > margin:
                order[i], order[i + 1] = order[i + 1], order[i]
                swapped = True
    return order


def _full_order(
    first: str, figures: Mapping[str, Figure], previous: Sequence[str], config: PolicyConfig
) -> tuple[str, ...]:
    rest = {p: f.adjusted for p, f in figures.items() if p != first}
    trusted = _sticky_order(previous, rest, config.switch_margin)
    untrusted = [p for p in config.pathways if p != first and p not in figures]
    return (first, *trusted, *untrusted)


def _fallback(config: PolicyConfig, group: Group, board: ScoreBoard, now: datetime) -> Reason:
    stale = any(board.has_stale(cdn, group, now, max_age_s=config.max_age_s) for cdn in config.cdns)
    if stale:
        return Reason(ReasonCode.STALE, f"figures older than {config.max_age_s:.0f} s: safe default order")
    return Reason(ReasonCode.NO_DATA, f"no CDN has {config.min_views}+ recent views for this group: default order")


def _choose_first(
    config: PolicyConfig,
    state: GroupState,
    figures: Mapping[str, Figure],
    now: datetime,
    health: Mapping[str, Health],
    incumbent_health: Health | None,
) -> tuple[str, Reason, GroupState]:
    """Hysteresis on the first pathway. Returns it, the reason and the state's challenger fields."""
    best = _best(figures, config.pathways)
    incumbent = state.incumbent
    if incumbent is None or state.provisional or incumbent not in config.pathways:
        return best, Reason(ReasonCode.INITIAL, f"{best} has the best QoE for this group"), state.without_challenger()
    if incumbent not in figures:
        text = f"{incumbent} has no recent well-sampled figure; {best} has"
        return best, Reason(ReasonCode.INCUMBENT_NO_DATA, text), state.without_challenger()
    degraded = _degraded_switch(config, incumbent, incumbent_health, figures, health)
    if degraded is not None:
        return degraded[0], degraded[1], state.without_challenger()
    if best == incumbent:
        text = f"{incumbent} still has the best QoE ({figures[incumbent].adjusted:.1f})"
        return incumbent, Reason(ReasonCode.INCUMBENT_BEST, text), state.without_challenger()

    lead = figures[best].adjusted - figures[incumbent].adjusted
    versus = f"{best} {figures[best].adjusted:.1f} vs {incumbent} {figures[incumbent].adjusted:.1f}"
    if lead >= config.emergency_margin:
        return best, Reason(ReasonCode.EMERGENCY, f"{versus}: lead {lead:.1f} ≥ emergency margin"), state
    if lead < config.switch_margin:
        text = f"{versus}: lead {lead:.1f} below margin {config.switch_margin:.1f}"
        return incumbent, Reason(ReasonCode.WITHIN_MARGIN, text), state.without_challenger()

    state = _track_challenger(state, best, figures[best].lookup.score.window_end, now)
    held_s = (now - (state.challenger_since or now)).total_seconds()
    if held_s >= config.switch_hold_s and state.challenger_windows >= config.switch_windows:
        windows = state.challenger_windows
        text = f"{versus}: led by ≥ {config.switch_margin:.1f} for {held_s:.0f} s over {windows} windows"
        return best, Reason(ReasonCode.SWITCH, text), state
    text = f"{versus}: leading for {held_s:.0f} s over {state.challenger_windows} windows, not yet confirmed"
    return incumbent, Reason(ReasonCode.CHALLENGER_PENDING, text), state


def _degraded_switch(
    config: PolicyConfig,
    incumbent: str,
    mine: Health | None,
    figures: Mapping[str, Figure],
    health: Mapping[str, Health],
) -> tuple[str, Reason] | None:
    """The best healthy alternative when the incumbent's throughput collapsed, else None.

    Healthy alternatives are ranked by their trusted QoE figure, then in the default order.
    """
    if config.degraded_ratio is None or mine is None or mine.ratio > config.degraded_ratio:
        return None
    healthy = [p for p in config.pathways if p != incumbent and p in health and health[p].ratio >= config.healthy_ratio]
    if not healthy:
        return None  # every CDN slowed down (the viewers' own networks), or nothing is known
    trusted = {p: figures[p] for p in healthy if p in figures}
    best = _best(trusted, config.pathways) if trusted else healthy[0]
    text = (
        f"{incumbent}'s viewers get {mine.ratio:.0%} of their usual throughput ({mine.views} views); "
        f"{best}'s get {health[best].ratio:.0%}"
    )
    return best, Reason(ReasonCode.DEGRADED, text)


@dataclass(frozen=True, slots=True)
class Health:
    """A pathway's median throughput ratio and how many views it comes from."""

    ratio: float
    views: int


def ratio_health(
    cdn: str, group: Group, board: ScoreBoard, now: datetime, min_views: int, max_age_s: float, *, recent: bool
) -> Health | None:
    """The finest fresh throughput ratio of ``cdn`` for ``group`` from at least ``min_views`` views:
    over the views with a download in the last seconds (``recent``) or over the whole window."""
    for level in group.backoff_chain():
        score = board.get(cdn, level)
        if score is None or score.is_stale(now, max_age_s):
            continue
        ratio, views = (
            (score.recent_ratio_p50, score.recent_ratio_views)
            if recent
            else (score.throughput_ratio_p50, score.throughput_ratio_views)
        )
        if ratio is not None and views >= min_views:
            return Health(ratio, views)
    return None


def health_ratios(config: PolicyConfig, group: Group, board: ScoreBoard, now: datetime) -> dict[str, Health]:
    """Each pathway's health, from ``health_min_views`` views (alternatives need few)."""
    found = {
        p: ratio_health(config.cdn_of(p), group, board, now, config.health_min_views, config.max_age_s, recent=False)
        for p in config.pathways
    }
    return {p: h for p, h in found.items() if h is not None}


def _track_challenger(state: GroupState, challenger: str, window_end: datetime, now: datetime) -> GroupState:
    if state.challenger != challenger:
        return replace(
            state,
            challenger=challenger,
            challenger_since=now,
            challenger_windows=1,
            challenger_last_window=window_end,
        )
    if window_end != state.challenger_last_window:
        return replace(state, challenger_windows=state.challenger_windows + 1, challenger_last_window=window_end)
    return state


def _health(
    config: PolicyConfig, state: GroupState, group: Group, board: ScoreBoard, now: datetime
) -> tuple[dict[str, Health], Health | None]:
    """Every pathway's health, and the incumbent's from ``degraded_min_views`` views (None: rule off)."""
    if config.degraded_ratio is None or state.incumbent not in config.pathways:
        return {}, None
    cdn = config.cdn_of(state.incumbent)
    mine = ratio_health(cdn, group, board, now, config.degraded_min_views, config.max_age_s, recent=True)
    return health_ratios(config, group, board, now), mine


def decide_group(
    config: PolicyConfig, state: GroupState, group: Group, board: ScoreBoard, now: datetime
) -> tuple[GroupDecision, GroupState]:
    """The group's exploitation order at ``now``, and the group's next state."""
    figures = trusted_figures(config, group, board, now)
    if figures:
        health, mine = _health(config, state, group, board, now)
        first, reason, state = _choose_first(config, state, figures, now, health, mine)
        priority = _full_order(first, figures, state.priority, config)
        state = replace(state, provisional=False)
    else:
        reason = _fallback(config, group, board, now)
        # Without figures the order is a fallback, not a choice: the first figures decide afresh.
        priority, state = tuple(config.pathways), replace(state.without_challenger(), provisional=True)
    if priority[:1] != state.priority[:1]:
        state = state.without_challenger()  # a new incumbent starts with no challenger
    previous = state.priority
    if priority != previous:
        state = replace(state, priority=priority, version=state.version + 1, changed_at=now)
    decision = GroupDecision(group, priority, previous, reason, state.version, now, MappingProxyType(figures))
    return decision, state


# --- traffic caps -------------------------------------------------------------------------------


def update_caps(
    config: PolicyConfig, caps: Mapping[str, CapState], board: ScoreBoard, now: datetime
) -> dict[str, CapState]:
    """New spill share per capped CDN from the latest global window.

    The measured share ``s`` was produced while a share ``spill`` of leader requests was already
    moved away, so the share without spill is ``s / (1 − spill)``; the spill that brings it down
    to the cap is ``1 − cap / unspilled``. Updating once per window (not per request) keeps this a
    stable fixed point instead of a bang-bang controller.
    """
    shares = board.global_shares(config.cdns, now, max_age_s=config.max_age_s)
    updated = {}
    for cdn, cap in config.caps.items():
        previous = caps.get(cdn, CapState())
        score = board.get(cdn, GLOBAL)
        if score is None or score.is_stale(now, config.max_age_s):
            updated[cdn] = CapState()  # no evidence of being over the cap
            continue
        if score.window_end == previous.window_end:
            updated[cdn] = previous
            continue
        unspilled = shares.get(cdn, 0.0) / (1.0 - previous.spill)
        spill = 0.0 if unspilled <= cap else min(MAX_SPILL, 1.0 - cap / unspilled)
        updated[cdn] = CapState(spill, score.window_end)
    return updated


# --- client layer -------------------------------------------------------------------------------


def _demote_capped(priority: tuple[str, ...], config: PolicyConfig, spill: Mapping[str, float]) -> tuple[str, ...]:
    first, rest = priority[0], priority[1:]
    for i, pathway in enumerate(rest):
        if spill.get(config.cdn_of(pathway), 0.0) == 0.0:
            return (*rest[: i + 1], first, *rest[i + 1 :])
    return priority  # every alternative is capped too: nowhere to move the traffic


def _explore_candidates(
    decision: GroupDecision, first: str, config: PolicyConfig, spill: Mapping[str, float]
) -> list[str]:
    figures = decision.figures
    leader = figures[first].adjusted if first in figures else None
    candidates = []
    for pathway in decision.priority:
        if pathway == first or spill.get(config.cdn_of(pathway), 0.0) > 0.0:
            continue
        gap = leader - figures[pathway].adjusted if leader is not None and pathway in figures else 0.0
        if gap <= config.explore_max_gap:  # never send viewers to a CDN known to be much worse
            candidates.append(pathway)
    return candidates


def client_order(
    config: PolicyConfig, decision: GroupDecision, spill: Mapping[str, float], rng: random.Random
) -> Decision:
    """What one client is told: the group's order, possibly capped or exploring.

    Draws exactly two random numbers per call, so a seeded ``rng`` replays identically.
    """
    priority, reason = decision.priority, decision.reason
    cap_draw, explore_draw = rng.random(), rng.random()
    if config.spread_without_data and reason.code in (ReasonCode.NO_DATA, ReasonCode.STALE) and len(priority) > 1:
        pick = priority[min(len(priority) - 1, math.floor(explore_draw * len(priority)))]
        spread = (pick, *(p for p in priority if p != pick))
        return Decision(decision, spread, Reason(reason.code, reason.text + "; spread over the pathways"), True)
    capped = exploring = False
    first_cdn = config.cdn_of(priority[0])
    if len(priority) > 1 and cap_draw < spill.get(first_cdn, 0.0):
        demoted = _demote_capped(priority, config, spill)
        if demoted != priority:
            priority, capped = demoted, True
            reason = Reason(ReasonCode.CAP, f"{first_cdn} is over its traffic cap: leader demoted for this client")
    if explore_draw < config.explore_rate:
        candidates = _explore_candidates(decision, priority[0], config, spill)
        if candidates:
            # Reuse the draw for the choice so the number of draws per call stays fixed.
            slot = math.floor(explore_draw / config.explore_rate * len(candidates))
            pick = candidates[min(len(candidates) - 1, slot)]
            priority = (pick, *(p for p in priority if p != pick))
            exploring = True
            reason = Reason(ReasonCode.EXPLORE, f"exploring {pick} so its figures stay fresh")
    return Decision(decision, priority, reason, exploring=exploring, capped=capped)


@dataclass(frozen=True)
class SteeringPolicy:
    """Both layers behind one call, for the service and for simulators in virtual time."""

    config: PolicyConfig

    def decide(
        self,
        group: Group,
        state: GroupState,
        board: ScoreBoard,
        now: datetime,
        rng: random.Random,
        *,
        spill: Mapping[str, float] | None = None,
        explore: bool = True,
    ) -> tuple[Decision, GroupState]:
        group_decision, next_state = decide_group(self.config, state, group, board, now)
        if not explore:
            return Decision(group_decision, group_decision.priority, group_decision.reason), next_state
        return client_order(self.config, group_decision, spill or {}, rng), next_state
