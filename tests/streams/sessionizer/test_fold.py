"""Conformance of the view-state machine: scripted views against hand-computed metrics.

Every expected figure is a literal, with the arithmetic beside it. Times are ms after T0 on the
viewer's clock; with no clock offset the server minute m0 starts at T0.
"""

from __future__ import annotations

import random

import pytest

from schemas.view_facts import BR, DOWN, PLAYING, STALL, UP, WATCH
from streams.sessionizer.events import Dims
from streams.sessionizer.fold import ViewFold, fold_events, upscale_pct
from streams.sessionizer.view import ViewMeta, outcome, qoe_input, view_facts, view_record
from tests.factories.views import MINUTE_MS, T0, Script

M0 = T0 // MINUTE_MS  # the server minute of T0


def folded(script: Script, timed_out: bool = False, offset_ms: int = 0) -> dict[str, object]:
    fold = fold_events(script.evs(), offset_ms, "cdn-a")
    meta = ViewMeta("v", "u", Dims(cdn="cdn-a"), offset_ms, T0)
    return view_record(fold, meta, outcome(fold, timed_out))


def test_a_seek_during_startup_is_startup_not_a_seek_nor_a_stall() -> None:
    view = folded(
        Script()
        .at(0, "playback_request")
        .at(100, "rendition_change", bitrate_kbps=3000, width=1280, height=720)
        .at(400, "seek_start", target_ms=60_000)
        .at(500, "stall_start")  # the player waits for the seek target: startup buffering
        .at(1500, "stall_end")
        .at(1600, "seek_end")
        .at(2000, "playback_start", playhead_ms=60_000)
        .at(32_000, "view_end", reason="user_exit")
    )
    assert view["vst_ms"] == 2000  # 2000 − 0: the seek is part of startup
    assert (view["stall_count"], view["stall_ms"]) == (0, 0)  # began before the first frame
    assert (view["seek_count"], view["seek_ms"]) == (0, 0)
    assert view["watch_ms"] == view["playing_ms"] == 30_000  # 32000 − 2000
    assert view["avg_bitrate_kbps"] == 3000
    assert view["rebuffer_ratio"] == 0
    assert (view["attempt"], view["played"], view["closed"], view["exit_reason"]) == (True, True, True, "user_exit")


def test_a_stall_that_begins_during_a_seek_belongs_to_the_seek() -> None:
    view = folded(
        Script()
        .at(0, "playback_request")
        .at(0, "rendition_change", bitrate_kbps=2000)
        .at(1000, "playback_start")
        .at(11_000, "seek_start", target_ms=300_000)
        .at(11_200, "stall_start")  # began during the seek: excluded
        .at(11_500, "seek_end")  # seeked, but still buffering: the seek lasts until the stall ends
        .at(13_000, "stall_end")
        .at(21_000, "stall_start")  # a real stall
        .at(22_000, "stall_end")
        .at(31_000, "view_end")
    )
    assert view["watch_ms"] == 30_000  # 31000 − 1000, no pause
    assert (view["seek_count"], view["seek_ms"]) == (1, 2000)  # 13000 − 11000
    assert (view["stall_count"], view["stall_ms"]) == (1, 1000)  # 22000 − 21000
    assert view["playing_ms"] == 27_000  # 30000 − 2000 − 1000
    assert view["rebuffer_ratio"] == pytest.approx(1 / 30)  # 1000 / 30000
    assert view["avg_bitrate_kbps"] == 2000


def test_pauses_are_excluded_from_watch_time() -> None:
    view = folded(
        Script()
        .at(0, "playback_request")
        .at(500, "playback_start")
        .at(10_500, "pause")
        .at(40_500, "resume")
        .at(50_500, "pause")
        .at(70_500, "view_end")  # ends while paused
    )
    assert view["watch_ms"] == 20_000  # (10500 − 500) + (50500 − 40500)
    assert view["pause_count"] == 2
    assert view["vst_ms"] == 500


def test_a_pause_during_a_stall_ends_the_stall() -> None:
    view = folded(
        Script()
        .at(0, "playback_request")
        .at(1000, "playback_start")
        .at(5000, "stall_start")
        .at(6000, "pause")
        .at(20_000, "resume")
        .at(30_000, "view_end")
    )
    assert view["watch_ms"] == 15_000  # 4000 playing + 1000 stalled + 10000 playing
    assert (view["stall_count"], view["stall_ms"]) == (1, 1000)  # 6000 − 5000


def test_a_fatal_error_before_the_first_frame_is_a_startup_failure_not_an_exit() -> None:
    script = Script().at(0, "playback_request").at(3000, "error", code="MEDIA_ERR_SRC", fatal=True)
    view = folded(script.at(3100, "view_end", reason="error"))
    assert (view["attempt"], view["played"], view["vsf"], view["vsf_business"], view["ebvs"]) == (
        True,
        False,
        True,
        False,
        False,
    )
    assert (view["vst_ms"], view["exit_reason"], view["error_code"]) == (None, "error", "MEDIA_ERR_SRC")


def test_business_and_technical_failures_are_told_apart() -> None:
    def fail(business: bool, after_start: bool) -> dict[str, object]:
        script = Script().at(0, "playback_request")
        if after_start:
            script.at(1000, "playback_start")
        script.at(21_000, "error", code="E", fatal=True, business=business)
        return folded(script.at(21_500, "view_end", reason="error"))

    flags = ("vsf", "vsf_business", "vpf", "vpf_business")
    assert [fail(False, False)[f] for f in flags] == [True, False, False, False]
    assert [fail(True, False)[f] for f in flags] == [False, True, False, False]
    assert [fail(False, True)[f] for f in flags] == [False, False, True, False]
    assert [fail(True, True)[f] for f in flags] == [False, False, False, True]
    assert fail(False, True)["watch_ms"] == 20_000  # 21000 − 1000: nothing after the fatal error


def test_a_warning_is_not_a_failure() -> None:
    view = folded(
        Script()
        .at(0, "playback_request")
        .at(1000, "playback_start")
        .at(2000, "error", code="FRAG_LOAD", fatal=False)
        .at(11_000, "view_end")
    )
    assert (view["vpf"], view["warnings"], view["watch_ms"]) == (False, 1, 10_000)


def test_exits_before_start_count_from_one_second() -> None:
    ebvs = folded(Script().at(0, "playback_request").at(4000, "view_end"))
    short = folded(Script().at(0, "playback_request").at(800, "view_end"))
    at_one_second = folded(Script().at(0, "playback_request").at(1000, "view_end"))
    assert (ebvs["ebvs"], ebvs["short_exit"]) == (True, False)  # waited 4000 ms
    assert (short["ebvs"], short["short_exit"]) == (False, True)  # waited 800 ms < 1000
    assert (at_one_second["ebvs"], at_one_second["short_exit"]) == (True, False)  # 1000 ms is not under 1 s


def test_a_view_that_times_out_before_start_is_an_exit_before_start() -> None:
    script = Script().at(0, "playback_request").at(5000, "heartbeat")
    open_view = folded(script)
    assert (open_view["closed"], open_view["ebvs"], open_view["exit_reason"]) == (False, False, "")
    timed_out = folded(script, timed_out=True)
    assert (timed_out["closed"], timed_out["ebvs"], timed_out["exit_reason"]) == (True, True, "timeout")
    assert timed_out["ended_at"] == T0 + 5000  # the last event


def test_switches_time_weighted_bitrate_upscale_and_dropped_frames() -> None:
    fold = fold_events(
        Script()
        .at(0, "player_resize", width=1920, height=1080)
        .at(0, "playback_request")
        .at(100, "rendition_change", bitrate_kbps=1000, width=960, height=540, framerate=30)  # before start: no switch
        .at(1000, "playback_start")
        .at(30_000, "heartbeat", dropped_frames=5, total_frames=900)
        .at(31_000, "rendition_change", bitrate_kbps=3000, width=1920, height=1080, framerate=30)
        .at(60_500, "heartbeat", dropped_frames=12, total_frames=1800)
        .at(61_000, "rendition_change", bitrate_kbps=2000, width=1280, height=720, framerate=30)
        .at(80_000, "heartbeat", dropped_frames=3, total_frames=100)  # counters reset (new media element)
        .at(91_000, "view_end")
        .evs(),
        0,
        "cdn-a",
    )
    view = view_record(fold, ViewMeta("v", "u", Dims(), 0, T0), outcome(fold, False))
    assert (view["upswitches"], view["downswitches"]) == (1, 1)
    # 30 s at 1000 kbps (1000→31000), 30 s at 3000, 30 s at 2000: (30000 + 90000 + 60000) / 90
    assert view["avg_bitrate_kbps"] == 2000
    # 960×540 in 1920×1080: 100 %; 1080p: 0 %; 720p: 50 %, 30 s each: (3000 + 0 + 1500) / 90
    assert view["upscale_pct"] == 50
    assert view["max_upscale_pct"] == 100
    assert (view["dropped_frames"], view["total_frames"]) == (15, 1900)  # 5 + 7 + 3, 900 + 900 + 100
    # Minute slices: m0 = [T0, T0+60000) holds 1000→60000, m1 holds 60000→91000.
    m0, m1 = fold.buckets[(M0, "cdn-a")], fold.buckets[(M0 + 1, "cdn-a")]
    assert (m0[WATCH], m1[WATCH]) == (59_000, 31_000)
    assert (m0[PLAYING], m1[PLAYING]) == (59_000, 31_000)
    assert m0[BR] == 117_000_000  # 1000 × 30000 + 3000 × 29000
    assert m1[BR] == 63_000_000  # 3000 × 1000 + 2000 × 30000
    assert (m0[UP], m0[DOWN], m1[UP], m1[DOWN]) == (1, 0, 0, 1)
    # Active from 1000 to 91000, sampled every 5 s: at 5 s … 55 s of m0 and 0 s … 30 s of m1.
    assert fold.samples[(M0, "cdn-a")] == [0] + [1] * 11
    assert fold.samples[(M0 + 1, "cdn-a")] == [1] * 7 + [0] * 5


def test_the_clock_offset_moves_time_slices_to_the_server_minute() -> None:
    script = Script().at(0, "playback_request").at(1000, "playback_start").at(91_000, "view_end")
    fold = fold_events(script.evs(), 30_000, "cdn-a")  # the server is 30 s ahead of the viewer
    # Playing 1000→91000 viewer = 31000→121000 server: 29000 in m0, 60000 in m1, 1000 in m2.
    watch = [fold.buckets[(M0 + i, "cdn-a")][WATCH] for i in range(3)]
    assert watch == [29_000, 60_000, 1000]


def test_pathway_changes_move_later_slices_and_the_end_to_the_new_cdn() -> None:
    fold = fold_events(
        Script()
        .at(0, "playback_request")
        .at(1000, "playback_start")
        .at(31_000, "pathway_change", pathway="cdn-b")
        .at(61_000, "view_end")
        .evs(),
        0,
        "cdn-a",
    )
    assert fold.buckets[(M0, "cdn-a")][WATCH] == 30_000  # 1000→31000
    assert fold.buckets[(M0, "cdn-b")][WATCH] == 29_000  # 31000→60000
    assert fold.buckets[(M0 + 1, "cdn-b")][WATCH] == 1000  # 60000→61000
    facts = view_facts(fold, outcome(fold, False), score=80.0)
    attempt_cell, end_cell = facts[(M0, "cdn-a")], facts[(M0 + 1, "cdn-b")]
    assert (attempt_cell[14], attempt_cell[15]) == (1, 1)  # attempts, plays: where the view started
    assert end_cell[-6:] == [1, 0, 0, 60_000, 1, 80.0]  # ended views … watch 60000, scored, score sum


def test_out_of_order_and_duplicate_events_fold_like_the_ordered_view() -> None:
    script = (
        Script()
        .at(0, "playback_request")
        .at(100, "rendition_change", bitrate_kbps=1500)
        .at(900, "playback_start")
        .at(5000, "stall_start")
        .at(7000, "stall_end")
        .at(20_000, "rendition_change", bitrate_kbps=800)
        .at(30_000, "pause")
        .at(35_000, "resume")
        .at(45_000, "ended")
        .at(45_100, "view_end", reason="ended")
    )
    ordered = fold_events(script.evs(), 0, "cdn-a")
    shuffled = script.evs() * 2
    random.Random(7).shuffle(shuffled)
    scrambled = fold_events(shuffled, 0, "cdn-a")
    meta = ViewMeta("v", "u", Dims(), 0, T0)
    expected = view_record(ordered, meta, outcome(ordered, False))
    assert view_record(scrambled, meta, outcome(scrambled, False)) == expected
    assert scrambled.buckets == ordered.buckets and scrambled.samples == ordered.samples
    assert ordered.totals[WATCH] == 39_100  # (45000 − 900) − 5000 paused
    assert ordered.totals[STALL] == 2000


def test_incremental_folding_equals_folding_from_scratch() -> None:
    script = (
        Script()
        .at(0, "playback_request")
        .at(500, "playback_start")
        .at(65_000, "stall_start")
        .at(66_000, "stall_end")
        .at(130_000, "view_end")
    )
    incremental = ViewFold(0, "cdn-a")
    for ev in script.evs():
        incremental.apply(ev)
    incremental.settle()  # time since the last phase change is sliced when it is needed
    assert incremental.buckets == fold_events(script.evs(), 0, "cdn-a").buckets


@pytest.mark.parametrize(
    ("player", "video", "expected"),
    [
        ((1920, 1080), (960, 540), 100.0),  # 2× on both axes
        ((1920, 1080), (1280, 720), 50.0),
        ((1280, 720), (1920, 1080), 0.0),  # downscaled: wasted bandwidth, not a QoE loss
        ((1920, 1080), (640, 480), 125.0),  # 4:3 in 16:9 fits on height: 1080 / 480 = 2.25
        ((0, 0), (640, 480), None),
    ],
)
def test_upscale_is_measured_on_the_fitting_axis(
    player: tuple[int, int], video: tuple[int, int], expected: float | None
) -> None:
    assert upscale_pct(*player, *video) == expected


def test_scoring_inputs_follow_the_qoe_score_rules() -> None:
    def inputs(script: Script, timed_out: bool = False) -> dict[str, object] | None:
        fold = fold_events(script.evs(), 0, "cdn-a")
        return qoe_input(fold, outcome(fold, timed_out))

    starting = Script().at(0, "playback_request")
    assert inputs(starting) is None  # open and not started: nothing to score yet
    exited = inputs(Script().at(0, "playback_request").at(3000, "view_end"))
    assert exited is not None and exited["exited_before_start"] and not exited["played"]
    geo = Script().at(0, "playback_request").at(10, "error", code="GEO", fatal=True, business=True)
    assert inputs(geo) is None  # business exceptions are left out of scoring
    failed = inputs(Script().at(0, "playback_request").at(10, "error", code="X", fatal=True))
    assert failed is not None and failed["fatal_before_start"]
