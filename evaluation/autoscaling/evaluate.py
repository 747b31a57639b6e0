"""Replay a demand scenario through Kubernetes-like autoscaling: ours versus a reactive HPA.

Both run through the same model of the HPA controller (docs/autoscaling.md, "Evaluation"):
15 s sync period, 10 % tolerance, scale-up limited to max(+100 %, +4 pods) per period, the
scale-down stabilisation window, and a pod start-up delay before a new replica serves.

* ``reactive`` – the HPA on CPU utilisation with a target of 1/(1 + headroom). It sees the load
  with the metrics-server delay, and we are generous to it: utilisation is not capped at the CPU
  limit, so it can ask for any number of pods in one step.
* ``ours`` – the ScaledObject of docs/autoscaling.md: our signal through KEDA's metrics-api
  trigger *and* the same CPU trigger; the HPA takes the larger proposal. The signal only sees
  complete minutes, ``data_lag_s`` after they end, and uses the event schedule.
* ``ours_no_schedule`` – the same without the schedule, to show what the forecast does alone.

Figures, over the evaluated minutes and all tiers:

* ``lead_time_s`` – peak time minus the moment from which every tier had, ready, the replicas
  the flash-crowd peak needs at 100 % utilisation (negative: reached only after the peak).
* ``under_minutes`` – minutes in which some tier had less ready capacity than the load.
* ``over_replica_minutes`` – replica-minutes run (ready or starting) above what the load needs
  at the target utilisation, summed over tiers.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from delivery.autoscaling.capacity import CapacityModel, ScaleDownStabiliser, Tier
from delivery.autoscaling.signals import SignalConfig, horizon_minutes, plan_region
from evaluation.autoscaling.scenario import Scenario


@dataclass(frozen=True)
class KubernetesModel:
    sync_s: float = 15.0  # HPA --horizontal-pod-autoscaler-sync-period default
    tolerance: float = 0.1  # HPA default
    scale_up_percent: float = 100.0  # default scale-up policies: 100 % or 4 pods per 15 s, the max
    scale_up_pods: int = 4
    scale_down_window_s: float = 300.0  # default scale-down stabilisation window
    keda_scale_down_window_s: float = 0.0  # our ScaledObject: the signal is already stabilised
    pod_startup_s: float = 60.0  # image pull, start, readiness probe: stated assumption
    metrics_lag_s: float = 15.0  # metrics-server resolution: the CPU trigger sees load this old
    data_lag_s: float = 30.0  # a minute's demand reaches ClickHouse this long after it ends


@dataclass
class Deployment:
    """Pods of one tier. Scaling down removes pods that are not ready yet first."""

    startup_s: float
    ready_at: list[float] = field(default_factory=list)

    @property
    def replicas(self) -> int:
        return len(self.ready_at)

    def ready(self, now: float) -> int:
        return bisect.bisect_right(self.ready_at, now)  # ready_at stays sorted: pods start in order

    def scale_to(self, replicas: int, now: float) -> None:
        if replicas > self.replicas:
            self.ready_at.extend([now + self.startup_s] * (replicas - self.replicas))
        elif replicas < self.replicas:
            del self.ready_at[replicas:]  # the newest, least ready pods go first


class HpaController:
    """The HPA's stabilisation and rate limits (behaviour defaults), for one deployment."""

    def __init__(self, model: KubernetesModel, capacity: CapacityModel, scale_down_window_s: float) -> None:
        self.model = model
        self.capacity = capacity
        self.scale_down_window_s = scale_down_window_s
        self._recommendations: deque[tuple[float, int]] = deque()

    def proposal(self, ratio: float, current: int) -> int:
        """What one metric proposes: unchanged within the tolerance, else ⌈ratio × current⌉."""
        if abs(ratio - 1.0) <= self.model.tolerance:
            return current
        return math.ceil(round(ratio * current, 9))

    def step(self, now: float, proposals: list[int], current: int) -> int:
        recommendation = max(proposals)
        self._recommendations.append((now, recommendation))
        while self._recommendations[0][0] < now - self.scale_down_window_s:
            self._recommendations.popleft()
        down_limit = max(r for _, r in self._recommendations)
        stabilised = current
        if recommendation > current:
            stabilised = recommendation
        elif current > down_limit:
            stabilised = down_limit
        by_percent = math.floor(current * (1 + self.model.scale_up_percent / 100))
        bounded = min(stabilised, max(current + self.model.scale_up_pods, by_percent))
        return min(self.capacity.max_replicas, max(self.capacity.min_replicas, bounded))


@dataclass(frozen=True)
class Outcome:
    lead_time_s: float | None
    under_minutes: float
    over_replica_minutes: float
    per_tier: dict[str, dict[str, float | None]]

    def to_json(self) -> dict[str, Any]:
        return {
            "lead_time_s": self.lead_time_s,
            "under_minutes": round(self.under_minutes, 2),
            "over_replica_minutes": round(self.over_replica_minutes, 1),
            "tiers": self.per_tier,
        }


class _Loads:
    """Per-tier load at any instant: minute values placed mid-minute and linearly interpolated."""

    def __init__(self, scenario: Scenario, capacity: CapacityModel, tiers: tuple[Tier, ...]) -> None:
        self.mid_s = (np.arange(scenario.concurrency.size) + 0.5) * 60.0
        self.values = {
            tier: np.array(
                [capacity.load(tier, c, e) for c, e in zip(scenario.concurrency, scenario.egress_bps, strict=True)]
            )
            for tier in tiers
        }

    def at(self, tier: Tier, t: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.interp(t, self.mid_s, self.values[tier]))


class _Signal:
    """Our signal as KEDA would read it at each poll: recomputed when a new minute lands."""

    def __init__(self, scenario: Scenario, config: SignalConfig, model: KubernetesModel, use_schedule: bool) -> None:
        self.scenario, self.config, self.model = scenario, config, model
        self.schedule = scenario.schedule if use_schedule else ()
        self._visible = -1
        self._desired: dict[Tier, int] = {}
        self._stabilisers = {tier: ScaleDownStabiliser(config.stabilisation_s) for tier in config.tiers}
        index = pd.date_range(pd.Timestamp(scenario.start), periods=scenario.concurrency.size, freq="min")
        self._event_minutes = np.zeros(index.size, bool)
        self._scheduled = np.zeros(index.size)
        for event in self.schedule:
            self._event_minutes |= event.affects(index)
            self._scheduled += event.expected_extra(index)

    def desired(self, now: float) -> dict[Tier, int]:
        visible = min(self.scenario.concurrency.size, int((now - self.model.data_lag_s) // 60))
        if visible != self._visible and visible > 0:
            self._visible = visible
            self._desired = self._plan(visible, now)
        return {tier: self._stabilisers[tier].update(now, self._desired[tier]) for tier in self.config.tiers}

    def _plan(self, visible: int, now: float) -> dict[Tier, int]:
        start = self.scenario.start
        last_minute = start + timedelta(minutes=visible - 1)
        horizon = horizon_minutes(last_minute, start + timedelta(seconds=now), self.config.provision_minutes)
        future = np.arange(visible, visible + horizon)
        scheduled = np.take(self._scheduled, future, mode="clip") if self.schedule else None
        plan = plan_region(
            self.scenario.concurrency[:visible],
            self.scenario.egress_bps[:visible],
            horizon,
            self.config,
            scheduled_viewers=scheduled,
            event_minutes=self._event_minutes[:visible],
        )
        return plan.desired


@dataclass(frozen=True)
class Variant:
    signal: bool  # our signal through the metrics-api trigger
    schedule: bool  # the signal knows the event schedule
    cpu: bool  # the CPU utilisation trigger


VARIANTS: dict[str, Variant] = {
    "ours": Variant(signal=True, schedule=True, cpu=True),
    "ours_no_schedule": Variant(signal=True, schedule=False, cpu=True),
    "signal_only": Variant(signal=True, schedule=True, cpu=False),
    "signal_only_no_schedule": Variant(signal=True, schedule=False, cpu=False),
    "reactive": Variant(signal=False, schedule=False, cpu=True),
}


def simulate(
    scenario: Scenario,
    variant: str,
    *,
    config: SignalConfig | None = None,
    model: KubernetesModel | None = None,
) -> Outcome:
    """Run one of :data:`VARIANTS` over the evaluated minutes."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    how = VARIANTS[variant]
    config = config or SignalConfig()
    model = model or KubernetesModel()
    capacity, tiers = config.capacity, config.tiers
    loads = _Loads(scenario, capacity, tiers)
    times = np.arange(scenario.eval_start * 60.0, scenario.concurrency.size * 60.0, model.sync_s)
    signal = _Signal(scenario, config, model, how.schedule) if how.signal else None
    window = model.keda_scale_down_window_s if how.signal else model.scale_down_window_s

    deployments, ready, total = {}, {}, {}
    for tier in tiers:
        first_load = float(loads.at(tier, times[0]))
        deployments[tier] = Deployment(model.pod_startup_s, [-math.inf] * capacity.desired(tier, first_load))
        ready[tier], total[tier] = np.zeros(times.size, int), np.zeros(times.size, int)
    controllers = {tier: HpaController(model, capacity, window) for tier in tiers}
    target = capacity.target_utilisation

    seen = {tier: loads.at(tier, times - model.metrics_lag_s) for tier in tiers}  # what metrics-server shows
    for i, now in enumerate(times):
        ours = signal.desired(float(now)) if signal is not None else {}
        for tier in tiers:
            deployment = deployments[tier]
            current = deployment.replicas
            proposals = []
            if how.cpu:
                seen_load = float(seen[tier][i])
                cpu_ratio = seen_load / (capacity.per_replica(tier) * target * current)
                proposals.append(controllers[tier].proposal(cpu_ratio, current))
            if tier in ours:
                proposals.append(controllers[tier].proposal(ours[tier] / current, current))
            deployment.scale_to(controllers[tier].step(float(now), proposals, current), float(now))
            ready[tier][i], total[tier][i] = deployment.ready(float(now)), deployment.replicas
    return _score(scenario, loads, capacity, tiers, times, ready, total, model.sync_s)


def _score(
    scenario: Scenario,
    loads: _Loads,
    capacity: CapacityModel,
    tiers: tuple[Tier, ...],
    times: np.ndarray,
    ready: dict[Tier, np.ndarray],
    total: dict[Tier, np.ndarray],
    step_s: float,
) -> Outcome:
    peak_t = (scenario.peak_minute + 0.5) * 60.0  # loads are placed mid-minute
    max_t = (scenario.max_minute + 0.5) * 60.0
    short_any = np.zeros(times.size, bool)
    per_tier: dict[str, dict[str, float | None]] = {}
    leads: list[float | None] = []
    for tier in tiers:
        load = loads.at(tier, times)
        short = ready[tier] * capacity.per_replica(tier) < load
        need_target = np.array([capacity.desired(tier, x) for x in load])
        over = np.clip(total[tier] - need_target, 0, None).sum() * step_s / 60.0
        need_peak = capacity.needed_at_full(tier, float(loads.at(tier, max_t)))
        lead = _lead_time(times, ready[tier], need_peak, peak_t)
        short_any |= short
        leads.append(lead)
        per_tier[tier.value] = {
            "lead_time_s": lead,
            "under_minutes": round(float(short.sum() * step_s / 60.0), 2),
            "over_replica_minutes": round(float(over), 1),
            "peak_replicas_needed": need_peak,
        }
    lead_all = None if any(x is None for x in leads) else min(x for x in leads if x is not None)
    over_all = sum(float(v["over_replica_minutes"] or 0.0) for v in per_tier.values())
    return Outcome(lead_all, float(short_any.sum() * step_s / 60.0), over_all, per_tier)


def _lead_time(times: np.ndarray, ready: np.ndarray, needed: int, peak_t: float) -> float | None:
    """Seconds from the start of the last stretch with enough ready replicas to the peak."""
    enough = ready >= needed
    at_peak = int(np.searchsorted(times, peak_t, side="right")) - 1
    if at_peak < 0:
        return None
    if enough[at_peak]:
        start = at_peak
        while start > 0 and enough[start - 1]:
            start -= 1
        return float(peak_t - times[start])
    later = np.nonzero(enough[at_peak:])[0]
    if later.size == 0:
        return None
    return float(peak_t - times[at_peak + later[0]])


def evaluate(
    scenario: Scenario, *, config: SignalConfig | None = None, model: KubernetesModel | None = None
) -> dict[str, Any]:
    """All three variants on one scenario, as the JSON ``qoe autoscaling evaluate --json`` prints."""
    model = model or KubernetesModel()
    config = config or SignalConfig()
    results = {name: simulate(scenario, name, config=config, model=model) for name in VARIANTS}
    ours, reactive = results["ours"], results["reactive"]
    return {
        **{variant: outcome.to_json() for variant, outcome in results.items()},
        "goals": {
            "lead_time_at_least_60s": ours.lead_time_s is not None and ours.lead_time_s >= 60.0,
            "under_minutes_at_most_half_of_reactive": ours.under_minutes <= 0.5 * reactive.under_minutes,
        },
        "scenario": {
            "description": scenario.description,
            "evaluated_minutes": int(scenario.concurrency.size - scenario.eval_start),
            "peak_at": scenario.minute_start(scenario.peak_minute).isoformat(),
            "peak_concurrency": float(scenario.concurrency[scenario.max_minute]),
            "schedule_used_by_ours": [
                {"start": e.start.isoformat(), "expected_peak": e.expected_peak} for e in scenario.schedule
            ],
        },
        "assumptions": {
            "pod_startup_s": model.pod_startup_s,
            "hpa_sync_s": model.sync_s,
            "metrics_lag_s": model.metrics_lag_s,
            "data_lag_s": model.data_lag_s,
            "hpa_scale_down_window_s": model.scale_down_window_s,
            "ours_hpa_scale_down_window_s": model.keda_scale_down_window_s,
            "signal_stabilisation_s": config.stabilisation_s,
            "provision_minutes": config.provision_minutes,
            "target_utilisation": round(config.capacity.target_utilisation, 3),
        },
    }
