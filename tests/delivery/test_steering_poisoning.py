"""Steering poisoning (issue 12) on real parts: one client's fake views do not move a group.

A LocalStack (embedded broker, the real worker and its score agent, the real gateway) gets honest
views of one group on two CDNs from many client addresses, and then 40 views from one address
that stall again and again on the group's leading CDN, at a low bitrate. The addresses arrive as
``X-Forwarded-For`` from 127.0.0.1, a trusted proxy by default, as they would behind an ingress.
The group's ``/v1/steering/decision`` must stay the same: the fake views make up at most
``steering_max_source_share`` (10 %) of the leader's figure. Without that cap they are more than
half of it: the leader's QoE falls from about 97 to about 51, more than the emergency margin
below the other CDN's 87, and the group switches at once (measured on this stack with
``QOE_STEERING_MAX_SOURCE_SHARE=1``). tests/streams/cdn_scores/test_live_sources.py runs fake
views that would trip the degraded rule both ways, in the fold and the policy.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from foundation.stack import LocalStack
from tests.factories.delivery import NO_MOBILE_LIVE, NO_MOBILE_LIVE_QUERY, BeaconWriter, post_beacon, read_gateway
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

GROUP = NO_MOBILE_LIVE_QUERY
HONEST_SOURCES = 12
VIEWS_PER_SOURCE = 3  # 36 views per CDN: the policy trusts a figure from 30
FAKE_VIEWS = 40
ATTACKER = "203.0.113.66"
FAKE_STALLS = [(2000 + 3000 * i, 2000) for i in range(6)]  # 2 s of every 3


def _view(view_id: str, cdn: str, base_ms: int, stalls: list[tuple[int, int]], bitrate_kbps: float) -> dict[str, Any]:
    """A view that plays ``bitrate_kbps`` from 0.5 s to 23 s with a steady 8 Mb/s download every
    second, stalling at each (start, length) of ``stalls`` (ms from the request)."""
    steps: list[tuple[int, str, dict[str, Any]]] = [
        (0, "playback_request", {}),
        (500, "rendition_change", {"bitrate_kbps": bitrate_kbps}),
        (500, "playback_start", {}),
        (23_000, "heartbeat", {}),
    ]
    for i in range(21):
        segment = {"bytes": 1_000_000, "duration_ms": 1000, "kind": "segment", "cdn": cdn}
        steps.append((1000 + 1000 * i, "request_completed", segment))
    for at, length in stalls:
        steps += [(at, "stall_start", {}), (at + length, "stall_end", {})]
    writer = BeaconWriter(view_id, cdn=cdn, base_ms=base_ms)
    steps.sort(key=lambda step: step[0])
    beacon, _ = writer.beacon(*[writer.event(kind, at, **fields) for at, kind, fields in steps])
    return beacon


def _post(
    client: httpx.Client, address: str, view_id: str, cdn: str, stalls: list[tuple[int, int]], bitrate_kbps: float
) -> None:
    beacon = _view(view_id, cdn, int(time.time() * 1000) - 24_000, stalls, bitrate_kbps)  # it ran until now
    post_beacon(client, beacon, {"x-forwarded-for": address})


def _post_honest(gateway: str) -> None:
    """cdn-a plays smoothly; cdn-b stalls once, briefly, so cdn-a leads the group (QoE 97 to 87)."""
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for cdn, stalls, net in (("cdn-a", [], 1), ("cdn-b", [(10_500, 300)], 2)):
            for i in range(HONEST_SOURCES * VIEWS_PER_SOURCE):
                address = f"198.51.{100 + net}.{1 + i % HONEST_SOURCES}"
                _post(client, address, f"honest-{cdn}-{i}", cdn, stalls, 3000.0)


def _post_fake(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for i in range(FAKE_VIEWS):
            _post(client, ATTACKER, f"fake-{i}", "cdn-a", FAKE_STALLS, 300.0)


def _figure(stack: LocalStack, cdn: str) -> dict[str, Any] | None:
    scores = read_gateway(stack, "/v1/steering/scores")["scores"]
    return next((s for s in scores if s["cdn"] == cdn and s["group"] == NO_MOBILE_LIVE.key), None)


def _order(decision: dict[str, Any]) -> tuple[list[str], int]:
    return decision["priority"], decision["version"]


def test_forty_fake_stalling_views_from_one_address_leave_the_decision_unchanged(stack: LocalStack) -> None:
    honest_views = HONEST_SOURCES * VIEWS_PER_SOURCE
    trusted = stack.settings.steering_min_views
    _post_honest(stack.gateway)

    def both_trusted() -> bool:
        figures = [_figure(stack, cdn) for cdn in ("cdn-a", "cdn-b")]
        return all(f is not None and f["views"] >= trusted for f in figures)

    wait_for(both_trusted, 60, f"figures of {trusted}+ views of both CDNs at the gateway", poll_s=0.5)
    before = read_gateway(stack, "/v1/steering/decision", **GROUP)
    assert before["priority"][0] == "cdn-a", before

    _post_fake(stack.gateway)
    wait_for(
        lambda: _figure(stack, "cdn-a"),
        30,
        "the fake views in cdn-a's figure",
        until=lambda figure: figure["views"] > honest_views,
        poll_s=0.5,
    )
    time.sleep(3)  # three more score ticks: every fake view folded and published
    figure = _figure(stack, "cdn-a")
    assert figure is not None and figure["views"] == honest_views + 4  # 4 = 10 % of the figure, not 40
    after = read_gateway(stack, "/v1/steering/decision", **GROUP)
    assert _order(after) == _order(before), after
    assert after["figures"]["cdn-a"]["views"] == honest_views + 4
