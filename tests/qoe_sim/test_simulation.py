from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from qoe_sdk import AiohttpPoster, AsyncSender
from qoe_sim.audience import Catalog
from qoe_sim.chooser import ChoiceRequest, SegmentFeedback, StaticChooser, SteeringDecision
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import parse_incident
from qoe_sim.player import BehaviorConfig
from qoe_sim.simulation import SimConfig, SimData, Simulation, load_data
from qoe_sim.sink import SinkStats, serve

from foundation.properties import new_property_key
from tests.factories.sim import events_of, validate_all

CATALOG = Catalog.zipf([(f"t{i}", f"Title {i}") for i in range(50)])
# A restless audience, so every kind of event happens in a short run.
BUSY = BehaviorConfig(
    live_share=0.3,
    business_error_prob=0.05,
    media_error_prob=0.05,
    pauses_per_min=1.0,
    seeks_per_min=1.0,
    pause_median_ms=5_000,
    watch_median_ms=60_000,
    live_watch_median_ms=60_000,
    think_median_ms=3_000,
)


@pytest.fixture(scope="module")
def synthetic() -> SimData:
    """No research data: the fitted synthetic links and segment sizes."""
    return load_data(None, None, catalog=CATALOG)


def run(data: SimData, **overrides: Any) -> tuple[Simulation, list[ViewMetrics], list[dict[str, Any]]]:
    chooser = overrides.pop("chooser", None)
    config = SimConfig(**{"viewers": 40, "duration_ms": 180_000, "ramp_ms": 10_000, "seed": 7, **overrides})
    sim = Simulation(config, data, chooser=chooser, keep_beacons=True)
    result = sim.run_virtual()
    assert sim.memory_sink is not None
    return sim, result.views, sim.memory_sink.payloads


def test_same_seed_same_events_in_virtual_time(synthetic: SimData) -> None:
    _, views_a, beacons_a = run(synthetic, behavior=BUSY)
    _, views_b, beacons_b = run(synthetic, behavior=BUSY)
    assert orjson.dumps(beacons_a) == orjson.dumps(beacons_b)
    assert [v.as_row() for v in views_a] == [v.as_row() for v in views_b]
    _, _, beacons_c = run(synthetic, behavior=BUSY, seed=8)
    assert orjson.dumps(beacons_c) != orjson.dumps(beacons_a)


def test_every_beacon_validates_and_every_event_kind_appears(synthetic: SimData) -> None:
    incidents = (parse_incident("cdn-b:outage:30s-90s"), parse_incident("cdn-a:errors=0.2:0-"))
    _, views, beacons = run(synthetic, behavior=BUSY, incidents=incidents)
    validate_all(beacons)
    kinds = Counter(e["type"] for e in events_of(beacons))
    expected = {
        "playback_request", "playback_start", "pause", "resume", "seek_start", "seek_end", "stall_start",
        "rendition_change", "player_resize", "error", "ended", "view_end", "heartbeat", "request_completed",
        "request_failed",
    }  # fmt: skip
    assert expected <= set(kinds)
    assert kinds["playback_request"] == kinds["view_end"] == len(views)
    assert all(len(b["events"]) <= 300 for b in beacons)


def test_per_view_metrics_agree_with_the_events_the_sdk_sent(synthetic: SimData) -> None:
    _, views, beacons = run(synthetic, behavior=BUSY)
    by_view: dict[str, list[dict[str, Any]]] = {}
    for event_view, event in ((b["view_id"], e) for b in beacons for e in b["events"]):
        by_view.setdefault(event_view, []).append(event)
    for view in views:
        events = by_view[view.view_id]
        assert [e["seq"] for e in events] == list(range(len(events)))
        kinds = Counter(e["type"] for e in events)
        assert kinds["stall_start"] == view.stall_count
        assert kinds["seek_start"] == view.seek_count and kinds["pause"] == view.pause_count
        assert kinds["request_completed"] + kinds["request_failed"] == view.requests
        assert kinds["rendition_change"] == (view.switches_up + view.switches_down + 1 if view.started else 0)
        if view.started:
            start = next(e["ts"] for e in events if e["type"] == "playback_start")
            assert view.startup_ms == pytest.approx(start - events[0]["ts"], abs=1)
        if view.fatal_error:
            assert any(e["type"] == "error" and e["fatal"] and e["code"] == view.fatal_error for e in events)


class AlternatingPolicy:
    """Moves every view to the next CDN each TTL; records what it was told."""

    def __init__(self) -> None:
        self.requests: list[ChoiceRequest] = []
        self.feedback: list[SegmentFeedback] = []
        self.ended: list[ViewMetrics] = []

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        self.requests.append(request)
        turn = sum(r.view_id == request.view_id for r in self.requests)
        first = request.cdns[turn % len(request.cdns)]
        return SteeringDecision((first, *(c for c in request.cdns if c != first)), ttl_ms=20_000)

    def observe(self, feedback: SegmentFeedback) -> None:
        self.feedback.append(feedback)

    def view_ended(self, metrics: ViewMetrics) -> None:
        self.ended.append(metrics)


def test_a_policy_sees_groups_gets_feedback_and_steers_views(synthetic: SimData) -> None:
    policy = AlternatingPolicy()
    _, views, beacons = run(synthetic, chooser=policy)
    assert len(policy.ended) == len(views)
    assert {r.reason for r in policy.requests} >= {"start", "reload"}
    assert all(r.group.zone in ("na", "eu", "apac", "sa") and r.group.asn > 0 for r in policy.requests)
    assert sum(v.requests - 1 for v in views) == len(policy.feedback)  # every segment, not the manifest
    assert {f.cdn for f in policy.feedback} == {"cdn-a", "cdn-b", "cdn-c"}
    changes = [e for e in events_of(beacons) if e["type"] == "pathway_change"]
    assert len(changes) == sum(v.pathway_changes for v in views) > 0


def test_an_outage_fails_pinned_viewers_unless_they_can_fall_back(synthetic: SimData) -> None:
    outage = (parse_incident("cdn-b:outage:0-"),)
    cdns = ("cdn-a", "cdn-b")
    patient = BehaviorConfig(startup_patience_median_ms=None, business_error_prob=0.0, media_error_prob=0.0)
    common: dict[str, Any] = {"cdns": cdns, "incidents": outage, "behavior": patient}
    _, pinned, _ = run(synthetic, chooser=StaticChooser.uniform(cdns), **common)
    on_b = [v for v in pinned if v.cdn == "cdn-b" and v.end_reason != "shutdown"]
    assert on_b and all(v.fatal_error == "NETWORK_ERROR" and not v.started for v in on_b)
    assert all(v.failed_requests == 4 for v in on_b)  # the first try and three retries
    _, rescued, _ = run(synthetic, chooser=StaticChooser.uniform(cdns, fallback=True), **common)
    moved = [v for v in rescued if v.cdn == "cdn-b" and v.end_reason != "shutdown"]
    assert moved and all(v.started and v.cdns_used == ["cdn-b", "cdn-a"] for v in moved)
    assert not any(v.fatal_error == "NETWORK_ERROR" for v in rescued)


def test_a_degraded_cdn_lowers_quality_for_its_viewers(synthetic: SimData) -> None:
    cdns = ("cdn-a",)
    calm = run(synthetic, cdns=cdns, chooser=StaticChooser.uniform(cdns))[1]
    degraded = run(
        synthetic, cdns=cdns, chooser=StaticChooser.uniform(cdns), incidents=(parse_incident("cdn-a:degrade=0.1:0-"),)
    )[1]

    def bitrate(views: list[ViewMetrics]) -> float:
        return statistics.mean(v.avg_bitrate_kbps for v in views if v.avg_bitrate_kbps)

    assert bitrate(degraded) < 0.6 * bitrate(calm)


@pytest.mark.shared_data
def test_a_short_virtual_run_on_the_real_traces(shared_data: Path) -> None:
    data = load_data(shared_data / "traces", shared_data / "manifests", catalog=CATALOG)
    sim = Simulation(SimConfig(viewers=300, duration_ms=120_000, seed=3), data, keep_beacons=True)
    result = sim.run_virtual()
    assert sim.memory_sink is not None
    validate_all(sim.memory_sink.payloads)
    started = [v for v in result.views if v.started]
    assert len(started) > 0.8 * len(result.views)
    startups = sorted(v.startup_ms for v in started if v.startup_ms is not None)
    assert 100 < statistics.median(startups) < 5_000
    watch = sum(v.watch_ms for v in result.views)
    assert 0 < sum(v.stall_ms for v in result.views) / watch < 0.2  # some rebuffering, not a collapse
    by_class = Counter(v.trace.klass for v in sim.viewers)
    assert set(by_class) == {"fcc-hd", "fcc-sd", "lte-4g", "hsdpa-3g"}


async def test_real_time_run_sends_valid_beacons_over_http(synthetic: SimData) -> None:
    stats = SinkStats()
    async with serve(stats, validate=True) as url, AsyncSender(url, poster=AiohttpPoster()) as sender:
        config = SimConfig(viewers=30, duration_ms=2_500, ramp_ms=500, seed=1)
        sim = Simulation(config, synthetic, sink=sender)
        result = await sim.run_realtime()
        assert await sender.drain(10)
    assert stats.refused == 0
    assert stats.beacons == sender.stats.beacons_sent == sim.reporter.stats.beacons_built > 30
    assert stats.events == sim.reporter.stats.events_recorded
    assert result.lag is not None and result.lag.samples > 0
    assert result.sim_ms == 2_500
    assert all(v.end_reason for v in result.views)


def test_policies_compared_on_one_seed_see_the_same_viewers_and_intents(synthetic: SimData) -> None:
    """Common random numbers: whatever CDN serves it, view k of viewer i is the same title and fate."""
    _, spread, _ = run(synthetic, behavior=BUSY, chooser=StaticChooser.uniform(("cdn-a", "cdn-b", "cdn-c")))
    _, single, _ = run(synthetic, behavior=BUSY, chooser=StaticChooser({"cdn-c": 1.0}))

    def intents(views: list[ViewMetrics]) -> dict[tuple[int, int], tuple[str, str, bool]]:
        numbered: dict[tuple[int, int], tuple[str, str, bool]] = {}
        for view in sorted(views, key=lambda v: v.started_at_ms):
            k = sum(key[0] == view.viewer_index for key in numbered)
            numbered[(view.viewer_index, k)] = (view.title_id, view.group.stream_type, view.business_error)
        return numbered

    a, b = intents(spread), intents(single)
    common = set(a) & set(b)
    assert len(common) > 0.8 * min(len(a), len(b))
    assert all(a[key] == b[key] for key in common)
    assert {v.cdn for v in single} == {"cdn-c"} and len({v.cdn for v in spread}) == 3


def test_an_audience_given_a_property_key_posts_every_beacon_with_it(synthetic: SimData) -> None:
    key = new_property_key()
    _, _, keyed = run(synthetic, viewers=10, duration_ms=60_000, property_key=key)
    validate_all(keyed)
    assert keyed and {beacon.get("property_key") for beacon in keyed} == {key}
    _, _, keyless = run(synthetic, viewers=10, duration_ms=60_000)
    assert all("property_key" not in beacon for beacon in keyless)
