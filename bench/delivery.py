"""Benchmarks of delivery: autoscaling against a reactive HPA, and the cost of a steering decision."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from bench.report import BenchRow
from foundation.settings import Settings

AUTOSCALING = "Autoscaling: flash crowd on a synthetic day"
STEERING = "Content steering"
EVALUATION = "Content steering: `qoe steering evaluate` on the real traces"
GOAL_REBUFFER_CUT = 0.5
GOAL_ORACLE_SHARE = 0.9


def run(settings: Settings) -> list[BenchRow]:
    return autoscaling_rows(settings.seed) + steering_rows() + evaluation_rows(settings)


def autoscaling_rows(seed: int = 0) -> list[BenchRow]:
    from evaluation.autoscaling.evaluate import evaluate
    from evaluation.autoscaling.scenario import synthetic_scenario

    result = evaluate(synthetic_scenario(seed))
    ours, blind, reactive = result["ours"], result["ours_no_schedule"], result["reactive"]
    label = "reactive HPA"
    lead, reactive_lead = ours["lead_time_s"], reactive["lead_time_s"]
    return [
        BenchRow(
            AUTOSCALING,
            "lead time before the peak (with the event schedule)",
            float(lead if lead is not None else float("nan")),
            "s",
            baseline=reactive_lead,
            baseline_label=label,
            target="≥ 60 s",
            passed=result["goals"]["lead_time_at_least_60s"],
        ),
        BenchRow(
            AUTOSCALING,
            "under-provisioned minutes",
            ours["under_minutes"],
            "min",
            baseline=reactive["under_minutes"],
            baseline_label=label,
            target="≤ 50 % of reactive",
            passed=result["goals"]["under_minutes_at_most_half_of_reactive"],
        ),
        BenchRow(
            AUTOSCALING,
            "over-provisioned replica-minutes",
            ours["over_replica_minutes"],
            "replica-min",
            baseline=reactive["over_replica_minutes"],
            baseline_label=label,
            notes="the price of pre-scaling for the event",
        ),
        BenchRow(
            AUTOSCALING,
            "under-provisioned minutes without the schedule",
            blind["under_minutes"],
            "min",
            baseline=reactive["under_minutes"],
            baseline_label=label,
            notes=f"lead time {blind['lead_time_s']} s: minute data 90 s late cannot foresee a 3-minute ramp",
        ),
    ]


def steering_rows(decisions: int = 20_000) -> list[BenchRow]:
    from delivery.steering.manifest import ReloadState, SteeringQuery, build_manifest, reload_uri
    from delivery.steering.policy import PolicyConfig
    from delivery.steering.scores import ScoreBoard
    from delivery.steering.service import SteeringConfig, SteeringService
    from schemas.steering import CdnScore, Group

    now = datetime.now(UTC)
    board = ScoreBoard()
    countries, cdns = ["NO", "SE", "DE", "FR", "GB"], ["cdn-a", "cdn-b", "cdn-c"]
    rng = random.Random(0)
    groups = [Group(c, asn, d, "live") for c in countries for asn in range(20) for d in ("mobile", "tv")]
    for group in groups:
        for level in group.backoff_chain():
            for cdn in cdns:
                board.put(CdnScore(cdn, level, 200, 0.01, 900.0, 0.002, 4000.0, rng.uniform(70, 90), now))
    service = SteeringService(SteeringConfig(PolicyConfig(tuple(cdns))), board, rng=rng, clock=lambda: now)
    queries = [SteeringQuery("hls", groups[i % len(groups)]) for i in range(decisions)]

    started = time.perf_counter()
    for query in queries:
        service.manifest(query)
    policy_s = time.perf_counter() - started
    started = time.perf_counter()
    for query in queries:
        build_manifest(cdns, ttl_s=20, reload=reload_uri("hls", query.group, ReloadState()))
    static_s = time.perf_counter() - started
    return [
        BenchRow(
            STEERING,
            "steering manifests per second, one core",
            decisions / policy_s,
            "manifests/s",
            baseline=decisions / static_s,
            baseline_label="static default order",
            notes=f"{len(groups)} groups × 5 back-off levels × {len(cdns)} CDNs on the board",
        )
    ]


def evaluation_rows(settings: Settings) -> list[BenchRow]:
    """The steering evaluation's table, a row per policy, with the issue's defaults (CLI defaults)."""
    from evaluation.steering.evaluate import EvaluationConfig, evaluate, evaluation_data, input_dirs

    traces, manifests = input_dirs(settings.resolved_shared_data())
    if traces is None or not traces.is_dir():
        return []
    config = EvaluationConfig(seed=settings.seed)
    result = evaluate(config, evaluation_data(traces, manifests, config.seed))
    return _policy_rows(result) + _goal_rows(result["policies"])


def _policy_rows(result: dict[str, Any]) -> list[BenchRow]:
    setup, policies = result["setup"], result["policies"]
    static = policies["static"]["rebuffer_ratio"]
    incidents = ", ".join(setup["incidents"]) or "none"
    setup_note = (
        f"{setup['viewers']:,} viewers × {setup['duration_s']:.0f} s, CDNs {', '.join(setup['cdns'])}, "
        f"incident {incidents}, seed {setup['seed']}; {setup['data']} — "
    )
    rows = []
    for index, (name, figures) in enumerate(policies.items()):
        share = figures["oracle_gain_share"]
        figures_note = (
            f"VST p50 {figures['vst_p50_ms']:,.0f} ms · average bitrate {figures['avg_bitrate_kbps']:,.0f} kb/s"
            f" · QoE score {figures['qoe_score']:.2f} · oracle_gain_share " + ("–" if share is None else f"{share:.2f}")
        )
        rows.append(
            BenchRow(
                EVALUATION,
                f"{name}: rebuffering ratio",
                100 * figures["rebuffer_ratio"],
                "%",
                baseline=100 * static,
                baseline_label="static",
                notes=(setup_note if index == 0 else "") + figures_note,
            )
        )
    return rows


def _goal_rows(policies: dict[str, dict[str, Any]]) -> list[BenchRow]:
    static, ours = policies["static"], policies["ours"]
    cut = 1 - ours["rebuffer_ratio"] / static["rebuffer_ratio"] if static["rebuffer_ratio"] > 0 else 0.0
    share = ours["oracle_gain_share"]
    return [
        BenchRow(
            EVALUATION,
            "ours: rebuffering cut against static",
            100 * cut,
            "%",
            target=f"≥ {GOAL_REBUFFER_CUT:.0%}",
            passed=cut >= GOAL_REBUFFER_CUT,
        ),
        BenchRow(
            EVALUATION,
            "ours: share of the oracle's QoE gain over static",
            float("nan") if share is None else share,
            "",
            baseline=1.0,
            baseline_label="oracle",
            target=f"≥ {GOAL_ORACLE_SHARE}",
            passed=share is not None and share >= GOAL_ORACLE_SHARE,
        ),
    ]
