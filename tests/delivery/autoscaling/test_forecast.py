from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from delivery.autoscaling.forecast import (
    ForecastConfig,
    ScheduledEvent,
    forecast_minutes,
    forecast_series,
    minute_index,
    seasonal_profile,
)
from tests.factories.delivery import daily_pattern

DAY = 1440


def test_constant_series_forecasts_the_constant_without_trend() -> None:
    result = forecast_minutes(np.full(300, 5000.0), 5)
    np.testing.assert_allclose(result.values, 5000.0)
    assert result.trend == 0.0 and not result.seasonal and result.peak == 5000.0


def test_linear_growth_without_season_is_level_plus_damped_trend() -> None:
    y = 1000.0 + 50.0 * np.arange(200)
    config = ForecastConfig(damping=0.7)
    result = forecast_minutes(y, 4, config)
    assert result.trend == pytest.approx(50.0)
    assert result.level == pytest.approx(y[-1])
    damped = np.cumsum(0.7 ** np.arange(1, 5))  # 0.7, 1.19, 1.533, 1.7731
    np.testing.assert_allclose(result.values, y[-1] + 50.0 * damped)


def test_noise_alone_is_not_taken_for_a_trend() -> None:
    rng = np.random.default_rng(1)
    y = 10_000.0 + rng.normal(0, 100.0, 400)
    result = forecast_minutes(y, 5)
    assert result.trend == 0.0
    assert result.values.mean() == pytest.approx(10_000.0, abs=150)
    assert result.noise == pytest.approx(100.0, rel=0.3)


def test_repeating_day_is_forecast_from_the_previous_days() -> None:
    minutes = np.arange(3 * DAY + 17 * 60)  # three days and 17 hours: the evening rise is next
    y = daily_pattern(minutes)
    result = forecast_minutes(y, 10)
    expected = daily_pattern(np.arange(minutes.size, minutes.size + 10))
    assert result.seasonal
    assert result.ratio == pytest.approx(1.0, abs=0.002)
    np.testing.assert_allclose(result.values, expected, rtol=0.003)


def test_a_bigger_day_scales_the_profile_by_the_level_ratio() -> None:
    minutes = np.arange(4 * DAY)
    y = daily_pattern(minutes)
    y[3 * DAY :] *= 1.3  # today is 30 % above the last days
    history = y[: 3 * DAY + 18 * 60]
    result = forecast_minutes(history, 10)
    assert result.ratio == pytest.approx(1.3, abs=0.005)
    np.testing.assert_allclose(result.values, y[history.size : history.size + 10], rtol=0.005)


def test_median_profile_ignores_one_unusual_day() -> None:
    minutes = np.arange(3 * DAY + 12 * 60)
    y = daily_pattern(minutes)
    y[2 * DAY + 12 * 60 : 2 * DAY + 13 * 60] += 300_000  # yesterday's one-off event
    result = forecast_minutes(y, 10)
    expected = daily_pattern(np.arange(minutes.size, minutes.size + 10))
    np.testing.assert_allclose(result.values, expected, rtol=0.01)


def test_a_ramp_is_caught_by_the_fast_component() -> None:
    y = np.full(3 * DAY, 50_000.0) + np.random.default_rng(2).normal(0, 300, 3 * DAY)
    y[-2:] += [40_000.0, 80_000.0]  # a flash crowd: +40k per minute for two minutes
    result = forecast_minutes(y, 5)
    assert result.trend == pytest.approx(40_000.0, rel=0.1)
    assert result.values[0] > y[-1] + 20_000
    # Damping bounds the extrapolation: at most φ/(1−φ) more slopes.
    assert result.peak < y[-1] + result.trend * 0.7 / 0.3 + 1000


def test_scheduled_event_adds_a_floor_with_margin() -> None:
    y = np.full(3 * DAY, 50_000.0)
    extra = np.array([0.0, 0.0, 100_000.0, 100_000.0, 100_000.0])
    result = forecast_minutes(y, 5, scheduled=extra)
    np.testing.assert_allclose(result.values, [50_000, 50_000, 150_000, 150_000, 150_000])
    np.testing.assert_allclose(result.scheduled, extra)


def test_event_minutes_are_kept_out_of_the_level_ratio() -> None:
    minutes = np.arange(3 * DAY + 20 * 60)
    y = daily_pattern(minutes)
    y[-45:] += 200_000  # an event running for 45 minutes
    during = np.zeros(y.size, bool)
    during[-55:] = True
    with_mask = forecast_minutes(y, 5, event_minutes=during)
    without_mask = forecast_minutes(y, 5)
    assert with_mask.ratio == pytest.approx(1.0, abs=0.01)
    assert without_mask.ratio > 1.5  # the event inflates today's level without the mask


def test_event_expected_extra_window_and_margin() -> None:
    start = datetime(2026, 9, 17, 19, 0, tzinfo=UTC)
    event = ScheduledEvent(start, 100_000, duration_s=3600, prescale_s=120, margin=0.25, settle_s=600)
    minutes = pd.date_range(start - timedelta(minutes=4), periods=20, freq="min")
    extra = event.expected_extra(minutes)
    assert list(extra[:2]) == [0.0, 0.0]  # before the prescale
    assert set(extra[2:14]) == {125_000.0}  # from 2 minutes before to 10 minutes after the start
    assert list(extra[14:]) == [0.0] * 6  # settled: the observed audience leads from here
    assert event.affects(minutes).all()
    with pytest.raises(ValueError, match="timezone"):
        ScheduledEvent(datetime(2026, 1, 1), 1.0)


def test_seasonal_profile_needs_a_full_day() -> None:
    config = ForecastConfig()
    assert seasonal_profile(np.ones(DAY), np.array([DAY - 1, DAY]), config) is None
    assert seasonal_profile(np.ones(2 * DAY), np.array([2 * DAY]), config) is not None


def test_forecast_series_fills_gaps_and_applies_events() -> None:
    end = datetime(2026, 9, 17, 18, 58, tzinfo=UTC)
    index = pd.date_range(end - timedelta(minutes=199), end, freq="min")
    series = pd.Series(np.full(200, 30_000.0), index=index).drop(index[100:105])
    event = ScheduledEvent(end + timedelta(minutes=3), 50_000, prescale_s=0, margin=0.0)
    result = forecast_series(series, 4, events=[event])
    np.testing.assert_allclose(result.values, [30_000, 30_000, 80_000, 80_000])
    assert minute_index(series).size == 200


@pytest.mark.parametrize(
    "history",
    [
        pd.Series([], dtype=float),
        pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="min")),  # naive index
    ],
)
def test_forecast_series_refuses_unusable_history(history: pd.Series) -> None:
    with pytest.raises(ValueError):
        forecast_series(history, 3)


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.nan]), np.ones((2, 2))])
def test_forecast_minutes_refuses_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        forecast_minutes(bad, 3)
