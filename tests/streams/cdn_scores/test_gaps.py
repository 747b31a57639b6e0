"""The live CDN fold slices at most the last two windows of an interval: years of silence cost nothing.

The figures read only the window before now, so the cap changes none of them (issue 12, "Poison
pills": a 100-year gap in under 50 ms and 10 MB).
"""

from __future__ import annotations

import functools

import pytest

from streams.cdn_scores.agents import fold_one
from streams.cdn_scores.live import LiveScoreConfig, LiveScores
from tests.factories.delivery import T0_MS, BeaconWriter, played_view
from tests.streams.cost import MB, cpu_s, peak_bytes

DAY_MS = 86_400_000
CENTURY_MS = (100 * 365 + 24) * DAY_MS


def fold_gap(gap_ms: int, window_s: int = 30) -> LiveScores:
    w = BeaconWriter()
    live = LiveScores(LiveScoreConfig(window_s=window_s))
    live.ingest(*w.beacon(*played_view(w, startup_ms=1000, watch_ms=gap_ms, bitrate_kbps=3000)))
    return live


@pytest.mark.timeout(120)
def test_a_100_year_gap_folds_in_under_50_ms_and_10_mb() -> None:
    # A day first: a fold that slices every second of a gap fails on it in about a second.
    for gap_ms in (DAY_MS, CENTURY_MS):
        fold = functools.partial(fold_gap, gap_ms)
        assert cpu_s(fold) < 0.050, f"gap of {gap_ms} ms"
        assert peak_bytes(fold) < 10 * MB, f"gap of {gap_ms} ms"


@pytest.mark.parametrize("gap_ms", [20_000, 60_000, 61_000, 3_600_000, CENTURY_MS])
def test_the_window_after_a_long_interval_is_the_same_as_without_the_cap(gap_ms: int) -> None:
    end = T0_MS + 1000 + gap_ms  # the heartbeat that closes the interval
    [window] = fold_gap(gap_ms).windows(end)
    played = min(gap_ms, 30_000)  # the window's 30 s, all of them playing (or the whole view)
    assert (window.watch_ms, window.played_ms, window.bitrate_ms) == (played, played, 3000 * played)


def test_a_record_the_fold_cannot_handle_is_skipped_not_raised() -> None:
    live = LiveScores()
    w = BeaconWriter()
    # An event that is no object: the fold raises on it beyond its own checks.
    unfoldable = b'{"server": {"received_at": 1}, "beacon": {"view_id": "v", "events": [3]}}'
    for value in (b"not json", unfoldable, w.record(w.event("playback_request", 0))):
        fold_one(live, value)
    assert live.open_views == 1 and live.stats.rejected == 2
