"""Closed-loop benchmark: how fast does a degraded CDN disappear from the manifests of its groups?

A LocalStack (embedded broker, the real stream worker with the score agent, the real gateway with
the steering service) and a live simulated audience whose players ask the steering service over
HTTP (:class:`~qoe_sim.steering_client.HttpSteeringChooser`). Mid-run the CDN that leads the
most groups is degraded (throughput × ``severity``).

**Reaction time**: from the onset until more than half of the affected groups (those whose order
put that CDN first at the onset) get an order that does not (the gateway's
``/v1/steering/decision``, polled every ``poll_s``: the group's own order, as a manifest
requested then would carry it, minus exploration).

**Baseline, same run**: a second steering service in this process, on the same live figures
(its own consumer of the same compacted topic), with the QoE rules only: phase 1's hysteresis
and emergency margin, without the throughput-degradation rule. It starts each affected group
from the live order at the onset (as a replica resuming from a client's RELOAD-URI state) and
is polled on the same clock. Without steering (static assignment) the answer is "never".

Inherent delays: the players' SDK flushes every 10 s (REFERENCE §4), so a degradation reaches
the pipeline 1–10 s after a player notices it, and a player notices it on its next segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.report import BenchRow
from foundation.settings import Settings

log = logging.getLogger(__name__)

SECTION = "Content steering: closed loop"


@dataclass(frozen=True)
class ClosedLoopConfig:
    viewers: int = 300
    onset_s: float = 90.0  # the audience needs this long to build figures and settle
    incident_s: float = 120.0
    severity: float = 0.25
    poll_s: float = 0.5
    warmup_cdn: str = ""  # the CDN to degrade; empty: the one leading the most groups at onset
    target_s: float = 10.0
    trials: int = 3  # each on a fresh stack; the median is reported (a run's flush phases vary)


@dataclass
class ReactionTrace:
    onset_wall: float = 0.0
    affected: tuple[str, ...] = ()
    cdn: str = ""
    ours_s: float | None = None
    baseline_s: float | None = None
    samples: int = 0


def group_params(key: str) -> dict[str, str]:
    country, asn, device, stream_type = key.split("/")
    values = {"country": country, "asn": asn, "device": device, "stream_type": stream_type}
    return {k: v for k, v in values.items() if v != "*"}


def majority_time(demoted_at: dict[str, float], affected: Sequence[str]) -> float | None:
    """The time by which more than half of ``affected`` were demoted (None if that never happened)."""
    times = sorted(demoted_at[g] for g in affected if g in demoted_at)
    needed = len(affected) // 2 + 1
    return times[needed - 1] if len(times) >= needed else None


async def _leading_cdn(client: httpx.AsyncClient, gateway: str, wanted: str) -> tuple[str, dict[str, list[str]]]:
    groups = (await client.get(f"{gateway}/v1/steering/groups")).json()["groups"]
    orders = {g["group"]: g["priority"] for g in groups if g["priority"]}
    firsts = [order[0] for order in orders.values()]
    cdn = wanted or max(set(firsts), key=firsts.count)
    return cdn, {g: order for g, order in orders.items() if order[0] == cdn}


async def _measure(
    config: ClosedLoopConfig,
    gateway: str,
    auth: dict[str, str],
    onset: asyncio.Event,
    degraded: dict[str, str],
    shadow: Any,
    trace: ReactionTrace,
) -> None:
    from delivery.steering.manifest import ReloadState
    from schemas.steering import Group

    await onset.wait()
    trace.onset_wall = time.time()
    async with httpx.AsyncClient(timeout=5, headers=auth) as client:
        cdn = degraded["cdn"]
        _, orders = await _leading_cdn(client, gateway, cdn)
        trace.cdn, trace.affected = cdn, tuple(orders)
        ours: dict[str, float] = {}
        theirs: dict[str, float] = {}
        deadline = trace.onset_wall + config.incident_s
        first = True
        while time.time() < deadline and (len(ours) < len(orders) or len(theirs) < len(orders)):
            now = time.time()
            for key, order in orders.items():
                if key not in ours:
                    answer = (await client.get(f"{gateway}/v1/steering/decision", params=group_params(key))).json()
                    if answer["priority"][0] != cdn:
                        ours[key] = now - trace.onset_wall
                if key not in theirs:
                    reported = ReloadState(1, tuple(order)) if first else None
                    decision = shadow.steer(Group.from_key(key), explore=False, reported=reported)
                    if decision.priority[0] != cdn:
                        theirs[key] = now - trace.onset_wall
            first = False
            trace.samples += 1
            await asyncio.sleep(config.poll_s)
    trace.ours_s = majority_time(ours, trace.affected)
    trace.baseline_s = majority_time(theirs, trace.affected)


async def run_closed_loop(settings: Settings, config: ClosedLoopConfig, stack_dir: Path) -> ReactionTrace:
    from qoe_sdk import AsyncSender
    from qoe_sim.run import make_poster, resolve_data
    from qoe_sim.simulation import SimConfig, Simulation
    from qoe_sim.steering_client import HttpSteeringChooser

    from delivery.gateway import ScoreFeed
    from delivery.steering.scores import ScoreBoard
    from delivery.steering.service import SteeringConfig, SteeringService
    from foundation.stack import LocalStack

    qoe_only = SteeringConfig.from_settings(settings)
    qoe_only = replace(qoe_only, policy=replace(qoe_only.policy, degraded_ratio=None))
    shadow_board = ScoreBoard(min_views=qoe_only.policy.min_views, max_age_s=qoe_only.policy.max_age_s)
    shadow = SteeringService(qoe_only, shadow_board, instance="bench-qoe-only")
    trace = ReactionTrace()
    with LocalStack(stack_dir) as stack:
        gateway = stack.gateway
        onset = asyncio.Event()
        degraded: dict[str, str] = {}
        stop = asyncio.Event()
        feed = ScoreFeed(stack.broker.bootstrap, settings.topic_cdn_scores, shadow_board, client_id="bench-shadow")
        chooser = HttpSteeringChooser(gateway)
        data = resolve_data(settings, seed=settings.seed)
        sim_config = SimConfig(viewers=config.viewers, duration_ms=None, seed=settings.seed, keep_views=10_000)
        sender = AsyncSender(gateway, poster=make_poster("aiohttp", 32), max_concurrency=32)
        async with sender:
            simulation = Simulation(sim_config, data, chooser=chooser, sink=sender)

            def start_incident(_: object) -> None:
                # Decided at the onset: degrade the CDN that leads the most groups now.
                asyncio.get_running_loop().create_task(
                    _degrade(simulation, gateway, stack.auth_headers, config, degraded, onset)
                )

            simulation.scheduler.at(config.onset_s * 1000, start_incident)
            feed_task = asyncio.create_task(feed.run(stop))
            measure = asyncio.create_task(_measure(config, gateway, stack.auth_headers, onset, degraded, shadow, trace))
            audience = asyncio.create_task(simulation.run_realtime(stop=stop))
            try:
                await asyncio.wait_for(measure, config.onset_s + config.incident_s + 60)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await audience
                await feed_task
                await chooser.close()
                await sender.drain(5)
    return trace


async def _degrade(
    simulation: Any,
    gateway: str,
    auth: dict[str, str],
    config: ClosedLoopConfig,
    degraded: dict[str, str],
    onset: asyncio.Event,
) -> None:
    from qoe_sim.network import Incident

    async with httpx.AsyncClient(timeout=5, headers=auth) as client:  # the steering groups need a read token
        cdn, _ = await _leading_cdn(client, gateway, config.warmup_cdn)
    now_ms = simulation.scheduler.now
    incident = Incident(cdn, "degrade", now_ms, now_ms + config.incident_s * 1000, config.severity)
    simulation.network.incidents = (*simulation.network.incidents, incident)
    degraded["cdn"] = cdn
    onset.set()


def _median_or_never(values: list[float | None]) -> float | None:
    """Median with "never" (None) ranked last; None when that median is a never."""
    ranked = sorted(values, key=lambda v: float("inf") if v is None else v)
    return ranked[(len(ranked) - 1) // 2] if ranked else None


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def run(settings: Settings, config: ClosedLoopConfig | None = None) -> list[BenchRow]:
    config = config or ClosedLoopConfig()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    traces = []
    for _ in range(config.trials):
        with tempfile.TemporaryDirectory(prefix="qoe-closed-loop-") as directory:
            traces.append(asyncio.run(run_closed_loop(settings, config, Path(directory))))
    ours = _median_or_never([t.ours_s for t in traces])
    baseline = _median_or_never([t.baseline_s for t in traces])
    runs = ", ".join(
        f"{_seconds(t.ours_s)} vs {_seconds(t.baseline_s)} ({t.cdn}, {len(t.affected)} groups)" for t in traces
    )
    notes = (
        f"median of {config.trials} runs on fresh stacks [ours vs QoE rules only: {runs}]; "
        f"{config.viewers} live viewers asking /v1/steering/hls over HTTP; the leading CDN's throughput × "
        f"{config.severity} at {config.onset_s:.0f} s; players' SDK flushes every 10 s; without steering: never"
    )
    return [
        BenchRow(
            SECTION,
            "reaction: degradation onset → most affected groups demote the CDN",
            float("nan") if ours is None else ours,
            "s",
            baseline=baseline,
            baseline_label="QoE rules only (hysteresis + emergency margin), same figures"
            + ("" if baseline is not None else ": never within the incident"),
            target=f"≤ {config.target_s:.0f} s",
            passed=ours is not None and ours <= config.target_s,
            notes=notes,
        )
    ]
