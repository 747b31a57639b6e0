"""Steering evaluation: the trace-driven simulator in virtual time, one run per CDN policy.

Every policy faces the same audience (same seed: the same viewers, traces, intentions and
network luck, common random numbers) and the same incidents:

* ``static`` – each viewer pinned to one CDN by weighted hashing, the others as fallbacks: a
  multi-CDN manifest without a steering server.
* ``random`` / ``round_robin`` – each view starts on a random CDN / the next CDN in turn.
* ``ours`` – the real steering service and policy, fed by the real live-score fold of the
  beacons the simulated players send (SDK flush delay included), figures computed every tick
  and reaching the board after the pipeline delay; players reload the steering manifest every TTL.
* ``oracle`` – ranks CDNs by their true conditions for the viewer (profiles, peering, incidents)
  at every reload, with the same TTL.

Figures per policy (REFERENCE §2): rebuffering ratio, VST p50, average bitrate, and the mean
per-view QoE score (:func:`streams.scoring.score.score_sessions` on the simulator's per-view
ground truth), plus ``oracle_gain_share = (policy − static) / (oracle − static)`` of the QoE.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from qoe_sim.chooser import CdnChooser, StaticChooser
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import parse_incident
from qoe_sim.simulation import SimConfig, SimData, Simulation, load_data
from qoe_sim.summary import summarize

from delivery.steering.policy import PolicyConfig
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import InMemoryDecisionLog, SteeringConfig, SteeringService
from evaluation.steering.choosers import (
    LiveFeedSink,
    OracleChooser,
    RandomChooser,
    RoundRobinChooser,
    SteeringChooser,
)
from foundation.settings import default_of, default_settings
from streams.cdn_scores.live import LiveScoreConfig, LiveScores

POLICIES = ("static", "random", "round_robin", "ours", "oracle")
CDN_NAMES = tuple(f"cdn-{letter}" for letter in "abcdefgh")
DEFAULT_INCIDENT = "cdn-a:degrade=0.1:240s-600s"  # the CLI's default too (qoe.commands.delivery)


@dataclass(frozen=True)
class EvaluationConfig:
    viewers: int = 1000
    duration_s: float = 600.0
    cdns: int = 3
    incidents: tuple[str, ...] = (DEFAULT_INCIDENT,)
    seed: int = 0
    ttl_s: int = default_of("steering_ttl_s")  # steering manifest TTL for ours and the oracle
    tick_s: float = default_of("steering_score_tick_s")  # how often the score agent publishes
    pipeline_delay_s: float = 1.0  # ingest → Kafka → agent, and compacted topic → gateway board
    live: LiveScoreConfig = field(default_factory=LiveScoreConfig)
    policy: PolicyConfig | None = None  # None: the gateway's defaults over the simulated CDNs

    def __post_init__(self) -> None:
        if not 1 <= self.cdns <= len(CDN_NAMES):
            raise ValueError(f"--cdns must be within 1..{len(CDN_NAMES)}")
        if self.viewers < 1 or self.duration_s <= 0:
            raise ValueError("viewers and duration must be positive")
        if self.tick_s <= 0 or self.pipeline_delay_s < 0:
            raise ValueError("tick must be positive and the pipeline delay not negative")

    @property
    def cdn_names(self) -> tuple[str, ...]:
        return CDN_NAMES[: self.cdns]


def view_qoe_frame(views: Sequence[ViewMetrics], top_bitrate_kbps: float) -> pd.DataFrame:
    """Per-view inputs of the QoE score. Censored views (stopped before they could start) and
    business refusals (no CDN's doing, the same under every policy) are left out."""
    rows = []
    for v in views:
        if (not v.started and v.end_reason == "shutdown") or v.business_error:
            continue
        fatal = v.fatal_error is not None
        rows.append(
            {
                "played": v.started,
                "exited_before_start": not v.started and not fatal,
                "fatal_before_start": not v.started and fatal,
                "fatal_after_start": v.started and fatal,
                "startup_ms": v.startup_ms,
                "watch_ms": v.watch_ms,
                "stall_count": v.stall_count,
                "stall_ms": v.stall_ms,
                "downswitches": v.switches_down,
                "avg_bitrate_kbps": v.avg_bitrate_kbps,
                "top_bitrate_kbps": top_bitrate_kbps,
            }
        )
    return pd.DataFrame(rows)


def policy_figures(views: Sequence[ViewMetrics], top_bitrate_kbps: float) -> dict[str, float | None]:
    from streams.scoring.score import score_sessions

    summary = summarize(views)
    frame = view_qoe_frame(views, top_bitrate_kbps)
    qoe = float(score_sessions(frame)["total"].mean()) if not frame.empty else math.nan
    return {
        "rebuffer_ratio": summary.rebuffer_ratio,
        "vst_p50_ms": summary.startup_p50_ms,
        "avg_bitrate_kbps": summary.avg_bitrate_kbps,
        "qoe_score": qoe,
        "views": float(len(frame)),
    }


def _service(config: EvaluationConfig, clock: Callable[[], datetime]) -> SteeringService:
    # The gateway's configuration with the settings' defaults (not this machine's QOE_* variables),
    # over the simulated CDNs.
    deployed = default_settings(steering_pathways=",".join(config.cdn_names))
    policy = config.policy or PolicyConfig.from_settings(deployed)
    steering = SteeringConfig(policy, ttl_s=config.ttl_s)
    board = ScoreBoard(min_views=policy.min_views, max_age_s=policy.max_age_s)
    return SteeringService(
        steering, board, decision_log=InMemoryDecisionLog(), rng=random.Random(config.seed), clock=clock
    )


def run_policy(name: str, config: EvaluationConfig, data: SimData) -> tuple[list[ViewMetrics], dict[str, Any]]:
    """One simulated run under ``name``; returns the views and what the policy did."""
    cdns = config.cdn_names
    sim_config = SimConfig(
        viewers=config.viewers,
        duration_ms=config.duration_s * 1000,
        seed=config.seed,
        cdns=cdns,
        incidents=tuple(parse_incident(spec, cdns) for spec in config.incidents),
        experiment=f"steering-{name}",
    )
    ttl_ms = config.ttl_s * 1000.0
    live = LiveScores(config.live)
    sink = LiveFeedSink(live) if name == "ours" else None
    simulation = Simulation(sim_config, data, sink=sink)
    chooser: CdnChooser
    info: dict[str, Any] = {}
    if name == "static":
        chooser = StaticChooser.uniform(cdns, fallback=True)
    elif name == "random":
        chooser = RandomChooser(config.seed)
    elif name == "round_robin":
        chooser = RoundRobinChooser()
    elif name == "oracle":
        chooser = OracleChooser(simulation.network, ttl_ms)
    elif name == "ours":
        assert sink is not None
        sink.clock = simulation.clock_ms
        service = _service(config, clock=lambda: datetime.fromtimestamp(simulation.clock_ms() / 1000, tz=UTC))
        chooser = SteeringChooser(
            service,
            live,
            simulation.scheduler,
            simulation.clock_ms,
            tick_ms=config.tick_s * 1000,
            delay_ms=config.pipeline_delay_s * 1000,
        )
        info["service"] = service
    else:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    _use_chooser(simulation, chooser)
    result = simulation.run_virtual()
    return result.views, info


def _use_chooser(simulation: Simulation, chooser: CdnChooser) -> None:
    # Choosers such as the oracle and ours need the simulation (its network, its clock) to exist
    # first; the viewers only ask once the run starts, so swapping it in now is safe.
    simulation.chooser = chooser
    simulation._world.chooser = chooser


def evaluate(config: EvaluationConfig, data: SimData, policies: Sequence[str] = POLICIES) -> dict[str, Any]:
    top = max(data.manifest.bitrates_kbps)
    results: dict[str, dict[str, Any]] = {}
    decisions: dict[str, Any] = {}
    for name in policies:
        views, info = run_policy(name, config, data)
        results[name] = policy_figures(views, top)
        if "service" in info:
            service: SteeringService = info["service"]
            decisions = {
                "priority_changes": service.stats.priority_changes,
                "requests": service.stats.requests,
                "explored": service.stats.explored,
            }
    _add_gain_shares(results)
    return {
        "policies": results,
        "ours_steering": decisions,
        "setup": {
            "viewers": config.viewers,
            "duration_s": config.duration_s,
            "cdns": list(config.cdn_names),
            "incidents": list(config.incidents),
            "seed": config.seed,
            "ttl_s": config.ttl_s,
            "tick_s": config.tick_s,
            "pipeline_delay_s": config.pipeline_delay_s,
            "window_s": config.live.window_s,
            "data": data.description,
        },
    }


def _add_gain_shares(results: dict[str, dict[str, Any]]) -> None:
    static, oracle = results.get("static"), results.get("oracle")
    for figures in results.values():
        share = None
        if static is not None and oracle is not None:
            span = oracle["qoe_score"] - static["qoe_score"]
            if math.isfinite(span) and abs(span) > 1e-9:
                share = (figures["qoe_score"] - static["qoe_score"]) / span
        figures["oracle_gain_share"] = share


def input_dirs(
    shared: Path | None, traces: Path | None = None, manifests: Path | None = None
) -> tuple[Path | None, Path | None]:
    """The trace and manifest directories: the given ones, else the research data's (None when absent)."""
    traces = traces or (shared / "traces" if shared is not None else None)
    manifests = manifests or (shared / "manifests" if shared is not None else None)
    return traces, manifests if manifests is not None and manifests.is_dir() else None


def evaluation_data(traces: Path, manifests: Path | None, seed: int) -> SimData:
    """Traces from ``traces`` (Sabre JSON or Pensieve text, one class per sub-directory)."""
    return load_data(traces, manifests, seed=seed)


def check_policies(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {unknown}; choose from {', '.join(POLICIES)}")
    return list(names)
