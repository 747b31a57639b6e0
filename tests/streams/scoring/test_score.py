"""The per-view formula: hand-computed sub-scores, success semantics, bounds and monotonicity."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.scoring.score import (
    DEFAULT_PARAMS,
    PRIOR_PARAMS,
    QoEParams,
    QoEScore,
    ViewQoE,
    score_sessions,
    score_view,
)
from tests.factories.scoring import view

# Round constants so the expected values below can be checked by hand.
P = QoEParams(
    startup_tolerance_s=10.0,
    stall_tolerance=5.0,
    stall_event_s=2.0,
    downswitch_weight=0.5,
    quality_exponent=2.0,
    bitrate_exponent=0.5,
    upscale_weight=0.5,
    framerate_weight=1.0,
)


def test_sub_scores_by_hand() -> None:
    # startup 10/(10+2.5) = 0.8; stall cost 2 + 4/2 = 4 → 1/(1 + 4/5 + 0.5·1) = 1/2.3;
    # quality (80/100)² = 0.64.
    short = view(watch_ms=8000, startup_ms=2500, stall_count=2, stall_ms=4000, downswitches=1, avg_quality=80)
    score = score_view(short, P)
    assert score.success == 100
    assert score.startup == pytest.approx(80.0)
    assert score.smoothness == pytest.approx(100 / 2.3)
    assert score.quality == pytest.approx(64.0)
    assert score.quality_basis == "quality"
    assert score.total == pytest.approx(100 * 0.8 / 2.3 * 0.64)


def test_down_switches_count_per_window_in_long_views() -> None:
    # W = 8 s: 3 down-switches in 60 s cost 0.5 · 3 · 8/60 = 0.2; in 8 s or less, 0.5 · 3.
    assert score_view(view(watch_ms=60_000, downswitches=3), P).smoothness == pytest.approx(100 / 1.2)
    assert score_view(view(watch_ms=5_000, downswitches=3), P).smoothness == pytest.approx(100 / 2.5)
    assert score_view(view(watch_ms=0, downswitches=3), P).smoothness == pytest.approx(100 / 2.5)


def test_quality_from_bitrate_by_hand() -> None:
    # share 1000/4000 = 0.25 → 0.25^0.5 = 0.5; upscale 100 % → e^-0.5; 12 fps → 24/12 - 1 = 1 → e^-1.
    score = score_view(
        view(avg_quality=None, avg_bitrate_kbps=1000, top_bitrate_kbps=4000, upscale_pct=100, avg_framerate=12), P
    )
    assert score.quality_basis == "bitrate"
    assert score.quality == pytest.approx(100 * 0.5 * math.exp(-0.5) * math.exp(-1.0))


def test_use_quality_false_ignores_the_quality_value() -> None:
    with_quality = score_view(view(avg_quality=20), P)
    without = score_view(view(avg_quality=20), P, use_quality=False)
    assert with_quality.quality == pytest.approx(4.0)
    assert without.quality_basis == "bitrate"
    assert without.quality == pytest.approx(100 * (3000 / 5000) ** 0.5)


def test_perfect_view_scores_100() -> None:
    perfect = view(startup_ms=0, avg_quality=100, avg_bitrate_kbps=5000)
    assert score_view(perfect, P).total == pytest.approx(100.0)
    assert score_view(perfect, P, use_quality=False).total == pytest.approx(100.0)


def test_unknown_inputs_leave_their_sub_score_out() -> None:
    score = score_view(view(startup_ms=None, avg_quality=None, avg_bitrate_kbps=None), P)
    expected = QoEScore(total=100.0, success=100.0, startup=None, smoothness=100.0, quality=None, quality_basis=None)
    assert score == expected
    # Unknown upscale and frame rate cost nothing.
    bare = score_view(view(avg_quality=None, upscale_pct=None, avg_framerate=None), P)
    assert bare.quality == pytest.approx(100 * (3000 / 5000) ** 0.5)


def test_fatal_failures_score_zero() -> None:
    before = score_view(ViewQoE(played=False, fatal_before_start=True), P)
    assert before.total == 0 and before.success == 0 and before.startup is None
    after = score_view(view(fatal_after_start=True, stall_count=1, stall_ms=1000), P)
    assert after.total == 0 and after.success == 0
    assert after.smoothness is not None and after.smoothness < 100  # still says what went wrong


def test_exit_before_start_scores_the_reduced_success_alone() -> None:
    score = score_view(ViewQoE(played=False, exited_before_start=True), P)
    assert score == QoEScore(total=50.0, success=50.0, startup=None, smoothness=None, quality=None, quality_basis=None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"played": False}, "never played"),
        ({"played": True, "exited_before_start": True}, "cannot also have exited"),
        ({"played": False, "exited_before_start": True, "fatal_before_start": True}, "exclude each other"),
        ({"played": False, "fatal_before_start": True, "fatal_after_start": True}, "needs a view that played"),
        ({"played": True, "stall_ms": -1.0}, "stall_ms must be ≥ 0"),
        ({"played": True, "top_bitrate_kbps": 0.0}, "top_bitrate_kbps must be > 0"),
        ({"played": True, "startup_ms": math.inf}, "finite"),
        ({"played": True, "stall_count": "2"}, "must be a number"),
        ({"played": "yes"}, "true or false"),
    ],
)
def test_invalid_views_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ViewQoE(**fields)


def test_params_refuse_negative_and_zero_divisors() -> None:
    with pytest.raises(ValueError, match="≥ 0"):
        dataclasses.replace(P, upscale_weight=-0.1)
    with pytest.raises(ValueError, match="must be > 0"):
        dataclasses.replace(P, stall_tolerance=0.0)
    with pytest.raises(ValueError, match="missing"):
        QoEParams.from_dict({"startup_tolerance_s": 1.0})
    assert QoEParams.from_dict(DEFAULT_PARAMS.as_dict()) == DEFAULT_PARAMS


def test_score_sessions_matches_score_view_row_by_row() -> None:
    views = [
        view(),
        view(stall_count=3, stall_ms=9000, downswitches=2, avg_quality=None, upscale_pct=50),
        ViewQoE(played=False, exited_before_start=True),
        ViewQoE(played=False, fatal_before_start=True),
        view(fatal_after_start=True),
        view(avg_quality=None, avg_bitrate_kbps=None),
    ]
    frame = pd.DataFrame([dataclasses.asdict(v) for v in views], index=[f"v{i}" for i in range(len(views))])
    scored = score_sessions(frame, P)
    assert list(scored.index) == list(frame.index)
    for label, one in zip(frame.index, views, strict=True):
        expected = score_view(one, P)
        row = scored.loc[label]
        assert row["total"] == pytest.approx(expected.total)
        for name in ("startup", "smoothness", "quality"):
            value = getattr(expected, name)
            assert math.isnan(row[name]) if value is None else row[name] == pytest.approx(value), name
        assert (row["quality_basis"] if isinstance(row["quality_basis"], str) else None) == expected.quality_basis


def test_score_sessions_fills_absent_columns_with_the_record_defaults() -> None:
    scored = score_sessions(pd.DataFrame({"played": [True], "startup_ms": [0.0]}), P)
    assert scored["total"].iloc[0] == pytest.approx(100.0)
    assert math.isnan(scored["quality"].iloc[0])


def test_score_sessions_names_the_invalid_row() -> None:
    frame = pd.DataFrame({"played": [True, False]}, index=["ok", "bad"])
    with pytest.raises(ValueError, match=r"never played.*\(view bad\)"):
        score_sessions(frame)
    with pytest.raises(ValueError, match="'played' column"):
        score_sessions(pd.DataFrame({"startup_ms": [1.0]}))


# --- properties -----------------------------------------------------------------------------

durations_ms = st.floats(min_value=0, max_value=1e7, allow_nan=False)
counts = st.integers(min_value=0, max_value=10_000)
positive = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False)


@st.composite
def played_views(draw: st.DrawFn) -> ViewQoE:
    return ViewQoE(
        played=True,
        fatal_after_start=draw(st.booleans()),
        startup_ms=draw(st.none() | durations_ms),
        watch_ms=draw(durations_ms),
        stall_count=draw(counts),
        stall_ms=draw(durations_ms),
        downswitches=draw(counts),
        avg_bitrate_kbps=draw(st.none() | st.floats(min_value=0, max_value=1e5)),
        top_bitrate_kbps=draw(st.none() | positive),
        avg_framerate=draw(st.none() | st.floats(min_value=0.1, max_value=240)),
        upscale_pct=draw(st.none() | st.floats(min_value=0, max_value=1e4)),
        avg_quality=draw(st.none() | st.floats(min_value=0, max_value=120)),
    )


any_views = played_views() | st.sampled_from(
    [ViewQoE(played=False, exited_before_start=True), ViewQoE(played=False, fatal_before_start=True)]
)


@st.composite
def any_params(draw: st.DrawFn) -> QoEParams:
    def weight() -> float:
        return draw(st.floats(min_value=0, max_value=5))

    return QoEParams(
        startup_tolerance_s=draw(st.floats(min_value=0.1, max_value=100)),
        stall_tolerance=draw(st.floats(min_value=0.1, max_value=100)),
        stall_event_s=draw(st.floats(min_value=0.1, max_value=10)),
        downswitch_weight=weight(),
        quality_exponent=weight(),
        bitrate_exponent=weight(),
        upscale_weight=weight(),
        framerate_weight=weight(),
    )


params_choices = st.sampled_from([DEFAULT_PARAMS, PRIOR_PARAMS, P]) | any_params()


@settings(max_examples=300, deadline=None)
@given(any_views, params_choices, st.booleans())
def test_every_score_is_between_0_and_100(one: ViewQoE, params: QoEParams, use_quality: bool) -> None:
    score = score_view(one, params, use_quality=use_quality)
    for value in (score.total, score.success, score.startup, score.smoothness, score.quality):
        assert value is None or 0.0 <= value <= 100.0 + 1e-9
    assert score.total <= score.success + 1e-9


def _worse(one: ViewQoE, data: st.DataObject) -> ViewQoE:
    """The same view with one thing made worse, or unchanged when it cannot get worse that way."""
    change = data.draw(st.sampled_from(["stall_count", "stall_ms", "startup_ms", "downswitches", "quality", "bitrate"]))
    more = data.draw(st.floats(min_value=0, max_value=1e6))
    if change == "stall_count":
        return dataclasses.replace(one, stall_count=one.stall_count + int(more))
    if change == "stall_ms":
        return dataclasses.replace(one, stall_ms=one.stall_ms + more)
    if change == "downswitches":
        return dataclasses.replace(one, downswitches=one.downswitches + int(more))
    if change == "startup_ms":
        return one if one.startup_ms is None else dataclasses.replace(one, startup_ms=one.startup_ms + more)
    if change == "quality":
        lower = None if one.avg_quality is None else max(0.0, one.avg_quality - more)
        return dataclasses.replace(one, avg_quality=lower)
    return dataclasses.replace(
        one,
        avg_bitrate_kbps=None if one.avg_bitrate_kbps is None else max(0.0, one.avg_bitrate_kbps - more),
        upscale_pct=None if one.upscale_pct is None else one.upscale_pct + more,
        avg_framerate=None if one.avg_framerate is None else max(0.1, one.avg_framerate - more),
    )


@settings(max_examples=400, deadline=None)
@given(played_views(), params_choices, st.booleans(), st.data())
def test_making_a_view_worse_never_raises_its_score(
    one: ViewQoE, params: QoEParams, use_quality: bool, data: st.DataObject
) -> None:
    before = score_view(one, params, use_quality=use_quality)
    after = score_view(_worse(one, data), params, use_quality=use_quality)
    assert after.total <= before.total + 1e-9
    for name in ("startup", "smoothness", "quality"):
        old, new = getattr(before, name), getattr(after, name)
        if old is not None and new is not None:
            assert new <= old + 1e-9, name


@settings(max_examples=200, deadline=None)
@given(played_views(), st.integers(min_value=1, max_value=100), st.floats(min_value=0.1, max_value=1e6))
def test_more_stalls_lower_the_default_score_strictly(one: ViewQoE, extra: int, extra_ms: float) -> None:
    healthy = dataclasses.replace(one, fatal_after_start=False, stall_count=0, stall_ms=0.0)
    stalled = dataclasses.replace(healthy, stall_count=extra, stall_ms=extra_ms)
    assert score_view(stalled).smoothness < score_view(healthy).smoothness  # type: ignore[operator]
