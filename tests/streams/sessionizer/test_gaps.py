"""A silence longer than the inactivity timeout is inactivity: the fold counts up to the timeout only.

So a view's figures do not depend on how far apart its events claim to be beyond the timeout, and
the fold's cost stays bounded (issue 12, "Poison pills": a 100-year gap in under 50 ms and 10 MB).
Views start at the epoch, so a century of gap still ends inside the schema's range (2100).
"""

from __future__ import annotations

import functools
import random

import pytest
from clickhouse_connect.driver.client import Client

from schemas.view_facts import PLAYING, STALL, WATCH
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.core import Sessionizer
from streams.sessionizer.fold import ViewFold, fold_events
from streams.sessionizer.store import ViewStore
from tests.factories.views import Script, record
from tests.streams.cost import MB, cpu_s, peak_bytes

DAY_MS = 86_400_000
CENTURY_MS = (100 * 365 + 24) * DAY_MS  # 100 years, leap days included
CAP_MS = SessionizerConfig().max_gap_ms  # the inactivity timeout: 30 min


def played_through(gap_ms: int) -> Script:
    """Starts playing at 1 s, then a heartbeat after ``gap_ms`` of silence, then 1 s more and the end."""
    script = Script(0).at(0, "playback_request").at(0, "rendition_change", bitrate_kbps=2000)
    return script.at(1000, "playback_start").at(1000 + gap_ms, "heartbeat").at(2000 + gap_ms, "view_end")


@pytest.mark.timeout(120)
def test_a_100_year_gap_folds_in_under_50_ms_and_10_mb() -> None:
    # 30 days first: on a fold that slices every minute of a gap this already fails, in about a
    # second, instead of the 100 years exhausting the machine's memory.
    for gap_ms in (30 * DAY_MS, CENTURY_MS):
        fold = functools.partial(fold_events, played_through(gap_ms).evs(), 0, "cdn-a")
        assert cpu_s(fold) < 0.050, f"gap of {gap_ms} ms"
        assert peak_bytes(fold) < 10 * MB, f"gap of {gap_ms} ms"


def test_time_beyond_the_timeout_counts_for_nothing() -> None:
    fold = fold_events(played_through(CENTURY_MS).evs(), 0, "cdn-a")
    assert fold.totals[WATCH] == fold.totals[PLAYING] == CAP_MS + 1000  # the timeout, then 1 s after the heartbeat
    assert len(fold.buckets) <= CAP_MS // 60_000 + 3  # the minutes of the timeout and of the last second
    samples = sum(sum(row) for row in fold.samples.values())
    assert samples <= (CAP_MS + 1000) // 5000 + 2  # concurrency: active at most through the timeout


def test_a_stall_through_a_long_silence_counts_up_to_the_timeout() -> None:
    script = Script(0).at(0, "playback_request").at(1000, "playback_start").at(2000, "stall_start")
    fold = fold_events(script.at(2000 + 7 * DAY_MS, "stall_end").at(3000 + 7 * DAY_MS, "view_end").evs(), 0, "cdn-a")
    assert fold.totals[STALL] == CAP_MS
    assert fold.totals[WATCH] == 1000 + CAP_MS + 1000  # playing 1 s, stalled up to the timeout, playing 1 s


@pytest.mark.parametrize(("gap_ms", "counted_ms"), [(CAP_MS - 1, CAP_MS - 1), (CAP_MS, CAP_MS), (CAP_MS + 1, CAP_MS)])
def test_gaps_up_to_the_timeout_count_in_full(gap_ms: int, counted_ms: int) -> None:
    fold = fold_events(played_through(gap_ms).evs(), 0, "cdn-a")
    assert fold.totals[WATCH] == counted_ms + 1000


def test_folding_event_by_event_agrees_with_folding_from_scratch_across_gaps() -> None:
    rng = random.Random(12)
    gaps = [1000, CAP_MS - 1, CAP_MS + 1, 3 * DAY_MS, CENTURY_MS, 1000, CAP_MS + 1, 7 * DAY_MS]
    rng.shuffle(gaps)
    script = Script(0).at(0, "playback_request").at(500, "playback_start")
    at = 500
    kinds = ("heartbeat", "pause", "resume", "stall_start", "stall_end", "seek_start", "seek_end", "heartbeat")
    for kind, gap in zip(kinds, gaps, strict=True):
        at += gap
        script.at(at, kind)
    evs = script.at(at + 1000, "view_end").evs()
    incremental = ViewFold(0, "cdn-a")
    for ev in evs:
        incremental.apply(ev)
        if rng.random() < 0.5:
            incremental.settle()  # a flush between two events
    incremental.settle()
    scratch = fold_events(evs, 0, "cdn-a")
    assert incremental.buckets == scratch.buckets and incremental.samples == scratch.samples
    assert incremental.totals == scratch.totals


def test_the_sessionizer_caps_at_its_own_inactivity_timeout(warehouse: Client) -> None:
    config = SessionizerConfig(inactivity_timeout_s=60)
    sessionizer = Sessionizer(ViewStore(warehouse), config)
    assert sessionizer.ingest(record(played_through(2 * 3_600_000).events, "v-gap"), 0)
    [view] = sessionizer.flush().views
    assert view["watch_ms"] == 60_000 + 1000
