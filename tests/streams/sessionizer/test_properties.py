"""Properties of the fold over random event sequences: bounds, totals that add up, order independence."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.view_facts import INDEX, SAMPLE_MS, TIME_SLICED
from streams.scoring.score import ViewQoE, score_view
from streams.sessionizer.events import Dims, to_ev
from streams.sessionizer.fold import ViewFold, fold_events
from streams.sessionizer.view import ViewMeta, outcome, qoe_input, view_record
from tests.factories.sessions import view_events
from tests.factories.views import T0

META = ViewMeta("v", "u", Dims(cdn="cdn-a"), 0, T0)


@settings(max_examples=300, deadline=None)
@given(view_events(T0), st.booleans())
def test_times_stay_within_watch_time_and_add_up(events: list[dict[str, Any]], timed_out: bool) -> None:
    fold = fold_events([to_ev(e) for e in events], 0, "cdn-a")
    view = view_record(fold, META, outcome(fold, timed_out))
    watch, stall, seek, playing = view["watch_ms"], view["stall_ms"], view["seek_ms"], view["playing_ms"]
    assert min(watch, stall, seek, playing) >= 0
    assert stall <= watch and playing + stall + seek == watch
    assert 0 <= view["rebuffer_ratio"] <= 1
    assert view["vst_ms"] is None or view["vst_ms"] >= 0
    if view["upscale_pct"] is not None:
        assert 0 <= view["upscale_pct"] <= view["max_upscale_pct"]
    # Per-minute slices add up to the view's totals.
    for name in TIME_SLICED:
        column = INDEX[name]
        assert sum(b[column] for b in fold.buckets.values()) == fold.totals[column]
    # One view counts once per sampling instant, and only at instants while it was in progress.
    samples = [n for row in fold.samples.values() for n in row]
    assert set(samples) <= {0, 1}
    span = (fold.last_ts or T0) - (fold.first_ts or T0)
    assert sum(samples) <= span / SAMPLE_MS + 1


@settings(max_examples=300, deadline=None)
@given(view_events(T0), st.booleans())
def test_outcomes_exclude_each_other(events: list[dict[str, Any]], timed_out: bool) -> None:
    fold = fold_events([to_ev(e) for e in events], 0, "cdn-a")
    out = outcome(fold, timed_out)
    before_start = [out.ebvs, out.short_exit, out.vsf, out.vsf_business]
    assert sum(before_start) <= 1
    assert not (out.played and any(before_start))
    assert not ((out.vpf or out.vpf_business) and not out.played)
    assert out.attempt or not any([*before_start, out.vpf, out.vpf_business])
    if out.closed and out.attempt and not out.played:
        assert sum(before_start) == 1  # an attempt that never started ended one of these ways
    scored = qoe_input(fold, out)
    if scored is not None:
        score = score_view(ViewQoE(**scored))
        assert 0 <= score.total <= 100


@settings(max_examples=200, deadline=None)
@given(view_events(T0), st.randoms(use_true_random=False), st.integers(0, 3))
def test_order_duplicates_and_chunking_do_not_change_the_fold(
    events: list[dict[str, Any]], rng: random.Random, duplicates: int
) -> None:
    evs = [to_ev(e) for e in events]
    reference = fold_events(evs, 0, "cdn-a")
    scrambled = evs + rng.sample(evs, min(duplicates, len(evs)))
    rng.shuffle(scrambled)
    refolded = fold_events(scrambled, 0, "cdn-a")
    incremental = ViewFold(0, "cdn-a")
    for ev in evs:
        incremental.apply(ev)
        if rng.random() < 0.3:
            incremental.settle()  # a flush between two events
    incremental.settle()
    for fold in (refolded, incremental):
        assert fold.buckets == reference.buckets and fold.samples == reference.samples
        assert view_record(fold, META, outcome(fold, False)) == view_record(reference, META, outcome(reference, False))
