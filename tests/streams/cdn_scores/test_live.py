from __future__ import annotations

import orjson
import pytest

from schemas.steering import GLOBAL, Group
from streams.cdn_scores.live import LiveScoreConfig, LiveScores, ScoreRecordError, score_windows
from tests.factories.delivery import T0_MS, BeaconWriter, played_view

NO = Group("NO", 2119, "mobile", "live")


def fold(*beacons: tuple[dict[str, object], dict[str, object]], **config: object) -> LiveScores:
    live = LiveScores(LiveScoreConfig(**config))  # type: ignore[arg-type]
    for beacon, server in beacons:
        live.ingest(beacon, server)
    return live


def test_a_view_counts_watch_stall_and_bitrate_by_hand() -> None:
    w = BeaconWriter()
    # intent at 0, first frame at 2 s (startup), 3000 kb/s; a stall 10-12 s; last event at 20 s
    live = fold(w.beacon(*played_view(w, startup_ms=2000, watch_ms=16_000, stall_ms=2000)), window_s=60)
    [window] = live.windows(T0_MS + 30_000)
    assert window.cdn == "cdn-a" and window.group == NO  # "phone" is the mobile device class
    assert window.played and window.startup_ms == 2000
    assert window.watch_ms == 18_000 and window.stall_ms == 2000 and window.stall_count == 1
    assert window.played_ms == 16_000 and window.bitrate_ms == 3000 * 16_000
    assert window.quality_bitrate_kbps == 3000


def test_startup_and_seek_buffering_are_not_stalls() -> None:
    w = BeaconWriter()
    events = [
        w.event("playback_request", 0),
        w.event("stall_start", 100),  # startup buffering
        w.event("stall_end", 900),
        w.event("playback_start", 1000),
        w.event("seek_start", 5000),
        w.event("stall_start", 5100),  # seek buffering
        w.event("stall_end", 6000),
        w.event("seek_end", 6000),
        w.event("heartbeat", 10_000),
    ]
    [window] = fold(w.beacon(*events)).windows(T0_MS + 11_000)
    assert window.stall_count == 0 and window.stall_ms == 0
    assert window.watch_ms == 9000 and window.played_ms == 8000  # seeking is watched, not played


def test_the_window_keeps_only_recent_seconds() -> None:
    w = BeaconWriter()
    live = fold(w.beacon(*played_view(w, startup_ms=0, watch_ms=60_000)), window_s=30)
    [window] = live.windows(T0_MS + 60_000)
    assert window.watch_ms == 30_000  # only seconds 30..60 of the minute played
    assert window.startup_ms is None  # the view started before the window
    assert live.windows(T0_MS + 200_000) == []  # nothing left, and the idle view is forgotten
    assert live.open_views == 0


def test_views_still_starting_are_not_scored_yet_but_failures_are() -> None:
    starting, failing, leaving = BeaconWriter("s"), BeaconWriter("f"), BeaconWriter("x")
    live = fold(
        starting.beacon(starting.event("playback_request", 0)),
        failing.beacon(
            failing.event("playback_request", 0), failing.event("error", 8000, code="NETWORK_ERROR", fatal=True)
        ),
        leaving.beacon(leaving.event("playback_request", 0), leaving.event("view_end", 3000, reason="user_exit")),
    )
    windows = {w.cdn + str(w.fatal_before_start) + str(w.exited_before_start): w for w in live.windows(T0_MS + 9000)}
    assert set(windows) == {"cdn-aTrueFalse", "cdn-aFalseTrue"}
    scores = score_windows(list(windows.values()), 6000)
    assert sorted(scores.tolist()) == [0.0, 50.0]  # fatal 0, exit before start 50 (success sub-score)


def test_a_business_refusal_is_no_cdn_failure() -> None:
    w = BeaconWriter()
    live = fold(w.beacon(w.event("playback_request", 0), w.event("error", 500, code="GEO", fatal=True, business=True)))
    assert live.windows(T0_MS + 1000) == []


def test_pathway_change_splits_the_window_between_cdns() -> None:
    w = BeaconWriter()
    events = [
        w.event("playback_request", 0),
        w.event("playback_start", 0),
        w.event("pathway_change", 4000, pathway="cdn-b"),
        w.event("heartbeat", 10_000),
    ]
    windows = {win.cdn: win.watch_ms for win in fold(w.beacon(*events), settle_s=2.0).windows(T0_MS + 10_000)}
    assert windows == {"cdn-a": 4000, "cdn-b": 4000}  # cdn-b is charged once the switch has settled


def test_late_and_repeated_events_are_dropped() -> None:
    w = BeaconWriter()
    events = played_view(w, startup_ms=0, watch_ms=10_000)
    live = fold(w.beacon(*events), w.beacon(*events[:2]))
    assert live.stats.late_events == 2
    [window] = live.windows(T0_MS + 11_000)
    assert window.watch_ms == 10_000


def test_quality_looks_ahead_to_what_the_cdn_can_deliver() -> None:
    fast, slow = BeaconWriter("fast"), BeaconWriter("slow")
    live = fold(
        fast.beacon(*played_view(fast, bitrate_kbps=3000, throughput_kbps=20_000)),
        slow.beacon(*played_view(slow, bitrate_kbps=3000, throughput_kbps=1000)),
    )
    windows = sorted(w.quality_bitrate_kbps or 0.0 for w in live.windows(T0_MS + 25_000))
    # The slow CDN's downloads give 0.9 × 1000 kb/s although the buffer still plays 3000 kb/s.
    assert windows == [pytest.approx(900.0), 3000.0]
    scores = score_windows(live.windows(T0_MS + 25_000), 6000)
    assert scores.min() < scores.max() - 20


def test_figures_are_published_at_every_backoff_level_with_their_sample_size() -> None:
    beacons = []
    for i in range(6):
        w = BeaconWriter(f"v{i}")
        beacons.append(w.beacon(*played_view(w, startup_ms=1000 + 100 * i, stall_ms=1000 if i < 3 else 0)))
    other = BeaconWriter("se", country="SE", asn=3301)
    beacons.append(other.beacon(*played_view(other)))
    scores = {s.group: s for s in fold(*beacons, min_views=5).scores(T0_MS + 25_000)}
    assert set(scores) == set(NO.backoff_chain())  # SE has one view: below min_views, except in the global
    assert scores[NO].views == 6 and scores[GLOBAL].views == 7
    exact = scores[NO]
    assert exact.rebuffering_ratio == pytest.approx(3000 / (6 * 20_000 + 3000))
    assert exact.vst_p50_ms == pytest.approx(1250.0)
    assert exact.failure_rate == 0.0 and exact.avg_bitrate_kbps == 3000.0
    assert 0 < exact.qoe_score < 100
    assert exact.window_s == 30 and int(exact.window_end.timestamp() * 1000) == T0_MS + 25_000


def test_more_stalls_give_a_lower_score() -> None:
    smooth, stalled = BeaconWriter("a", cdn="cdn-a"), BeaconWriter("b", cdn="cdn-b")
    live = fold(smooth.beacon(*played_view(smooth)), stalled.beacon(*played_view(stalled, stall_ms=4000)), min_views=1)
    by_cdn = {s.cdn: s.qoe_score for s in live.scores(T0_MS + 26_000) if s.group == GLOBAL}
    assert by_cdn["cdn-b"] < by_cdn["cdn-a"]


def test_records_that_are_not_beacon_records_are_refused() -> None:
    live = LiveScores()
    for value in (b"not json", b"[]", orjson.dumps({"server": {}, "beacon": []})):
        with pytest.raises(ScoreRecordError):
            live.ingest_record(value)
    live.ingest_record(orjson.dumps({"server": {}, "beacon": {}}))  # readable but incomplete: counted
    assert live.stats.rejected == 4
    w = BeaconWriter()
    live.ingest_record(w.record(*played_view(w)))
    assert live.open_views == 1


def test_unknown_cdn_labels_are_never_published() -> None:
    w = BeaconWriter(cdn="Some CDN!")
    live = fold(w.beacon(*played_view(w)), min_views=1)
    assert live.scores(T0_MS + 25_000) == []


def test_the_view_cap_forgets_the_least_recently_heard() -> None:
    live = LiveScores(LiveScoreConfig(max_views=2))
    for name in ("a", "b", "c"):
        w = BeaconWriter(name)
        live.ingest(*w.beacon(w.event("playback_request", 0)))
    assert live.open_views == 2 and live.stats.forgotten == 1


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="abr_safety"):
        LiveScoreConfig(abr_safety=1.5)
    with pytest.raises(ValueError, match="positive"):
        LiveScoreConfig(window_s=0)


def _downloads(w: BeaconWriter, start_ms: int, kbps: list[float], cdn: str = "cdn-a") -> list[dict[str, object]]:
    """One 1-second segment download per second at the given throughputs."""
    return [
        w.event("request_completed", start_ms + 1000 * i, bytes=int(k * 1000 / 8), duration_ms=1000, cdn=cdn)
        for i, k in enumerate(kbps)
    ]


def test_the_throughput_ratio_compares_a_download_with_the_views_own_level() -> None:
    w = BeaconWriter()
    events = [w.event("playback_request", 0), w.event("playback_start", 500)]
    events += _downloads(w, 1000, [8000.0] * 20 + [2000.0])  # a steady link, then a 4× slower download
    events.append(w.event("heartbeat", 22_000))
    [window] = fold(w.beacon(*events)).windows(T0_MS + 23_000)
    assert window.throughput_ratio == pytest.approx(0.25, rel=0.01)
    assert window.ratio_at_ms == T0_MS + 21_000


def test_the_level_carries_over_a_pathway_change() -> None:
    w = BeaconWriter()
    events = [w.event("playback_request", 0), w.event("playback_start", 500)]
    events += _downloads(w, 1000, [8000.0] * 20)
    events.append(w.event("pathway_change", 21_500, pathway="cdn-b"))
    events += _downloads(w, 22_000, [12_000.0], cdn="cdn-b")  # the new CDN delivers 1.5× the usual
    events.append(w.event("heartbeat", 40_000))
    windows = {win.cdn: win for win in fold(w.beacon(*events), settle_s=1.0).windows(T0_MS + 40_000)}
    assert windows["cdn-b"].throughput_ratio == pytest.approx(1.5, rel=0.01)  # paired: same viewer, two CDNs


def test_figures_carry_window_and_recent_ratio_medians() -> None:
    beacons = []
    for i in range(6):
        w = BeaconWriter(f"v{i}")
        events = [w.event("playback_request", 0), w.event("playback_start", 500)]
        # four views: a steady link then a 4× slower download at 21 s; two: steady, last at 18 s
        events += _downloads(w, 1000, [8000.0] * 20 + [2000.0] if i < 4 else [8000.0] * 18)
        events.append(w.event("heartbeat", 24_000))
        beacons.append(w.beacon(*events))
    scores = {s.group: s for s in fold(*beacons, min_views=5).scores(T0_MS + 24_000)}
    exact = scores[NO]
    assert exact.throughput_ratio_views == 6 and exact.recent_ratio_views == 4  # downloads ≤ 5 s old
    assert exact.recent_ratio_p50 == pytest.approx(0.25, rel=0.01)
    assert exact.throughput_ratio_p50 == pytest.approx(0.25, rel=0.01)  # 4 of 6 dropped: the median too
