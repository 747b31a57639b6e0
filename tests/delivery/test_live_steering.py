"""The live loop on real parts: beacons → gateway → Kafka → score agent → cdn-scores → steering.

A LocalStack (embedded broker, the real Faust worker with the warehouse, the real gateway) gets
beacons of two CDNs for one group; cdn-a, first in the default order, fails its viewers. The
gateway's manifest must then put cdn-b first, the change must reach ``steering_decisions``,
and the autoscaling gauges must show on the gateway's ``/metrics``.

The stack steers with exploration off: at the default rate (5 %) one manifest in twenty puts
another CDN first on purpose, which is no demotion to assert on (it once gave cdn-c, cdn-b).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.stack import LocalStack
from tests.factories.delivery import (
    NO_MOBILE_LIVE,
    NO_MOBILE_LIVE_QUERY,
    BeaconWriter,
    played_view,
    post_beacon,
    read_gateway,
)
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

GROUP = NO_MOBILE_LIVE_QUERY
VIEWS_PER_CDN = 36  # the policy trusts a figure from 30 views


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"QOE_STEERING_EXPLORE_RATE": "0"}  # every answer is the group's own order


def _post_views(gateway: str, cdn: str, *, failing: bool, base_ms: int) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for i in range(VIEWS_PER_CDN):
            writer = BeaconWriter(f"{cdn}-{i}-{base_ms}", cdn=cdn, base_ms=base_ms)
            if failing:
                events = [
                    writer.event("playback_request", 0),
                    writer.event("error", 6000, code="NETWORK_ERROR", fatal=True),
                    writer.event("view_end", 6001, reason="error"),
                ]
            else:
                events = played_view(writer, startup_ms=800, watch_ms=12_000, throughput_kbps=8000)
            post_beacon(client, writer.beacon(*events)[0])


def test_a_failing_cdn_is_demoted_in_the_manifest(stack: LocalStack) -> None:
    gateway = stack.gateway
    assert stack.settings.steering_explore_rate == 0.0
    before = httpx.get(f"{gateway}/v1/steering/hls", params=GROUP, timeout=10).json()
    assert sorted(before["PATHWAY-PRIORITY"]) == ["cdn-a", "cdn-b", "cdn-c"]  # no figures: spread
    assert "qoe_x=1" in before["RELOAD-URI"]  # … and the client knows the order was its own

    base_ms = int(time.time() * 1000) - 14_000  # the views ran over the last 14 s
    _post_views(gateway, "cdn-a", failing=True, base_ms=base_ms)
    _post_views(gateway, "cdn-b", failing=False, base_ms=base_ms)

    # The score agent publishes a figure from 5 views, the policy trusts one from 30: a tick in
    # the middle of the posting puts a figure on the board that the policy does not use yet. Wait
    # until the board holds both CDNs' figures the policy trusts, so the next answer decides on both.
    trusted = stack.settings.steering_min_views

    def scores_arrived() -> bool:
        scores = read_gateway(stack, "/v1/steering/scores")["scores"]
        group = [s for s in scores if s["group"] == NO_MOBILE_LIVE.key and s["views"] >= trusted]
        return {s["cdn"] for s in group} == {"cdn-a", "cdn-b"}

    wait_for(scores_arrived, 60, f"the score agent's figures from {trusted}+ views at the gateway", poll_s=0.5)
    manifest = httpx.get(f"{gateway}/v1/steering/hls", params={**GROUP, "_HLS_pathway": "cdn-a"}, timeout=10).json()
    assert manifest["PATHWAY-PRIORITY"][:2] == ["cdn-b", "cdn-a"]
    decision = read_gateway(stack, "/v1/steering/decision", **GROUP)
    assert decision["figures"]["cdn-a"]["qoe"] == 0.0 and decision["figures"]["cdn-b"]["qoe"] > 50

    def decision_stored() -> list[dict[str, Any]]:
        rows = read_gateway(stack, "/v1/steering/decisions")["decisions"]
        return [r for r in rows if r["group_key"] == NO_MOBILE_LIVE.key and r["to_pathway"] == "cdn-b"]

    [stored] = wait_for(decision_stored, 60, "the decision in steering_decisions", poll_s=0.5)
    # The group's order before any figure was the default one; the first figures decide afresh.
    assert stored["from_pathway"] == "cdn-a" and stored["reason_code"] == "initial"


def test_gateway_metrics_carry_steering_and_autoscaling(stack: LocalStack) -> None:
    text = httpx.get(f"{stack.gateway}/metrics", headers=stack.auth_headers, timeout=10).text
    assert "qoe_steering_requests_total" in text
    assert "qoe_autoscaling_metrics_up 1" in text
    signals = httpx.get(f"{stack.gateway}/v1/autoscaling/signals", headers=stack.auth_headers, timeout=30)
    assert signals.status_code == 200, signals.text


def test_logs_are_clean(stack: LocalStack) -> None:
    for name in ("worker", "ingest"):
        log = Path(stack.logs / f"{name}.log")
        text = log.read_text() if log.exists() else ""
        assert "Traceback" not in text, f"{name} log:\n{text[-3000:]}"
