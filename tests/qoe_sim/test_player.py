"""The simulated player against arithmetic done by hand, and ABR sanity on constant links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qoe_sim.abr import ABR_RULES
from qoe_sim.audience import Catalog
from qoe_sim.chooser import StaticChooser
from qoe_sim.manifest import Manifest, load_manifest
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import CdnProfile
from qoe_sim.player import BehaviorConfig, PlayerConfig
from qoe_sim.simulation import VIRTUAL_EPOCH_MS, SimConfig, SimData, Simulation
from qoe_sim.synthetic import SEGMENT_SIZES
from qoe_sim.traces import TraceLibrary

from tests.factories.sim import constant_manifest, constant_trace, validate_all

# A person who does nothing but watch to the end: no pauses, seeks, errors or impatience.
STILL = BehaviorConfig(
    live_share=0.0,
    business_error_prob=0.0,
    media_error_prob=0.0,
    pauses_per_min=0.0,
    seeks_per_min=0.0,
    watch_median_ms=None,
    startup_patience_median_ms=None,
    stall_patience_median_ms=None,
    views_per_viewer=1,
)
# A CDN that hands the viewer exactly the trace: no scaling, no added latency, no failures.
NEUTRAL = {"cdn-a": {zone: CdnProfile(1.0, 0.0, 0.0) for zone in ("na", "eu", "apac", "sa")}}
CATALOG = Catalog([("t1", "Test Title")])
# 1 segment to start or resume, 3 segments of buffer, a 1,250-byte (10,000-bit) manifest.
HAND_PLAYER = PlayerConfig(startup_buffer_ms=2_000, resume_buffer_ms=2_000, max_buffer_ms=6_000, manifest_bytes=1_250)


def ladder(tmp_path: Path, bitrates: list[int], segment_ms: int = 2_000, segments: int = 5) -> Manifest:
    return load_manifest(constant_manifest(tmp_path / "m.json", bitrates, segment_ms, segments))


def run_one_view(
    tmp_path: Path,
    link_kbps: float,
    manifest: Manifest,
    *,
    latency_ms: float = 50,
    player: PlayerConfig | None = None,
) -> tuple[ViewMetrics, list[dict[str, Any]]]:
    """One viewer, one view to the end over a constant link; its metrics and its events."""
    constant_trace(tmp_path / "traces" / "const" / "link.json", link_kbps, latency_ms)
    data = SimData(manifest, TraceLibrary.from_dir(tmp_path / "traces"), CATALOG, "hand calculation")
    config = SimConfig(
        viewers=1,
        duration_ms=3_600_000,
        ramp_ms=0,
        cdns=("cdn-a",),
        cdn_profiles=NEUTRAL,
        peering_spread=0.0,
        behavior=STILL,
        player=player or HAND_PLAYER,
    )
    sim = Simulation(config, data, chooser=StaticChooser.uniform(("cdn-a",)), keep_beacons=True)
    result = sim.run_virtual()
    assert sim.memory_sink is not None
    payloads = sim.memory_sink.payloads
    validate_all(payloads)
    first_view = payloads[0]["view_id"]
    return result.views[0], [e for p in payloads if p["view_id"] == first_view for e in p["events"]]


def test_a_fast_link_matches_the_hand_calculation(tmp_path: Path) -> None:
    """10 Mb/s, 50 ms latency, ladder 1 and 3 Mb/s, 2 s segments of exactly bitrate × 2 s, 5 segments.

    manifest: 50 + 10,000 bits / 10,000 kb/s = 51 ms.
    seg 0 at the lowest rung (the default estimate, 500 kb/s, affords nothing more):
        50 + 2,000,000 / 10,000 = 250 ms → in at 301; 2 s buffered → first frame at 301.
        measured 2,000,000 / 250 = 8,000 kb/s; 3,000 ≤ 0.7 × 8,000, so up to 3 Mb/s.
    seg 1: 50 + 6,000,000 / 10,000 = 650 ms → 951; seg 2 → 1,601; the buffer (3 segments) is full.
    Each boundary frees room: seg 3 at 2,301 → 2,951; seg 4 at 4,301 → 4,951.
    Playback: seg 0 (1 Mb/s) 301–2,301, segs 1–4 (3 Mb/s) to 10,301: ended, no stall.
    Average bitrate (2 s × 1,000 + 8 s × 3,000) / 10 s = 2,600 kb/s, one switch up.
    """
    metrics, events = run_one_view(tmp_path, 10_000, ladder(tmp_path, [1_000, 3_000]))
    assert metrics.startup_ms == 301
    assert (metrics.stall_count, metrics.stall_ms) == (0, 0)
    assert metrics.played_ms == 10_000
    assert metrics.watch_ms == 10_301
    assert metrics.avg_bitrate_kbps == pytest.approx(2_600)
    assert (metrics.switches_up, metrics.switches_down) == (1, 0)
    assert metrics.requests == 6 and metrics.bits_downloaded == 10_000 + 2_000_000 + 4 * 6_000_000
    assert metrics.end_reason == "ended"
    at = {(e["type"], e["ts"] - VIRTUAL_EPOCH_MS) for e in events}
    assert {("playback_start", 301), ("ended", 10_301), ("view_end", 10_301)} <= at
    assert [e["ts"] - VIRTUAL_EPOCH_MS for e in events if e["type"] == "request_completed"] == [
        51,
        301,
        951,
        1_601,
        2_951,
        4_951,
    ]
    renditions = [(e["ts"] - VIRTUAL_EPOCH_MS, e["bitrate_kbps"]) for e in events if e["type"] == "rendition_change"]
    assert renditions == [(301, 1_000), (2_301, 3_000)]
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_a_link_at_the_lowest_bitrate_stalls_by_the_latency_every_segment(tmp_path: Path) -> None:
    """1 Mb/s, 50 ms latency, same ladder: every 2 s segment takes 2,050 ms.

    manifest 50 + 10 = 60 ms; seg k arrives at 60 + 2,050 (k + 1) = 2,110 + 2,050 k.
    First frame at 2,110. Seg k (k ≥ 1) plays from its arrival, seg k-1 ran out 50 ms earlier:
    four stalls of 50 ms. Seg 4 arrives at 10,310 and plays to 12,310.
    """
    metrics, events = run_one_view(tmp_path, 1_000, ladder(tmp_path, [1_000, 3_000]))
    assert metrics.startup_ms == 2_110
    assert metrics.stall_count == 4
    assert metrics.stall_ms == pytest.approx(200)
    assert metrics.watch_ms == pytest.approx(12_310)
    assert metrics.avg_bitrate_kbps == pytest.approx(1_000)
    assert metrics.switches_up == metrics.switches_down == 0
    stalls = [e["ts"] - VIRTUAL_EPOCH_MS for e in events if e["type"] == "stall_start"]
    assert stalls == [4_110, 6_160, 8_210, 10_260]
    assert sum(e["type"] == "stall_end" for e in events) == 4


@pytest.mark.parametrize("abr", ABR_RULES)
def test_no_stalls_on_a_constant_link_above_the_top_bitrate(tmp_path: Path, abr: str) -> None:
    manifest = SEGMENT_SIZES.generate(np.random.default_rng(5))  # real-looking sizes, ±20% per segment
    top = manifest.bitrates_kbps[-1]
    metrics, _ = run_one_view(tmp_path, 2 * top, manifest, player=PlayerConfig(abr=abr))
    assert metrics.end_reason == "ended"
    assert metrics.stall_count == 0
    assert metrics.avg_bitrate_kbps is not None and metrics.avg_bitrate_kbps > 0.8 * top


@pytest.mark.parametrize("abr", ABR_RULES)
def test_stalls_on_a_constant_link_below_the_lowest_bitrate(tmp_path: Path, abr: str) -> None:
    manifest = ladder(tmp_path, [1_000, 3_000, 6_000], segments=20)
    metrics, _ = run_one_view(tmp_path, 700, manifest, player=PlayerConfig(abr=abr, startup_buffer_ms=2_000))
    assert metrics.end_reason == "ended"
    assert metrics.avg_bitrate_kbps == pytest.approx(1_000)  # never above the lowest rung
    assert metrics.stall_count >= 5
    # The view cannot end before every bit came through the 700 kb/s link, plus the last segment's 2 s.
    assert metrics.startup_ms is not None
    downloading_ms = 20 * 2_000_000 / 700
    assert metrics.startup_ms + metrics.stall_ms + metrics.played_ms >= downloading_ms + 2_000 - 1
