"""Short-term demand forecast for autoscaling: the next minutes of concurrency per region.

The forecast of minute ``n + h`` from per-minute history ``y[..n]`` is (docs/autoscaling.md)::

    ŷ(n+h) = ρ·S(n+h) + α + β·(φ + φ² + … + φʰ)

* ``S`` – the diurnal profile: the median, over the previous ``season_days`` days, of the same
  minute of the day (lightly smoothed). A median, so one unusual day (yesterday's match) does
  not shape today's curve.
* ``ρ`` – how big today is compared with those days: the median of ``y / S`` over the last
  ``level_window`` minutes that were not inside a scheduled event.
* ``α``, ``β`` – level and slope of what the profile does not explain (``y − ρ·S``) over the last
  ``trend_window`` minutes, by least squares. The slope is the fast component that catches a
  flash crowd as it ramps; it is used only when it exceeds ``trend_z`` times the minute-to-minute
  noise, and it is damped by ``φ`` (Gardner's damped trend) so a ramp is not extrapolated forever.
* Known events (live events are scheduled) add a floor: ``ρ·S + expected audience × (1 + margin)``
  from ``prescale_s`` before the start until ``settle_s`` after it, so capacity is there before
  the audience arrives; by then the observed level has taken over.

With less than a day of history ``S`` is absent and the forecast is level + damped trend.
Statsmodels' Holt-Winters would need a 1,440-minute season fitted by optimisation on every
refresh; this closed form costs microseconds and each part has a meaning an operator can read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

MINUTES_PER_DAY = 1440
_MAD_TO_SIGMA = 1.4826  # MAD × this estimates σ for Gaussian noise


@dataclass(frozen=True)
class ForecastConfig:
    season_minutes: int = MINUTES_PER_DAY
    season_days: int = 3  # previous days the diurnal profile is the median of
    season_smooth_minutes: int = 5  # centred moving average of the profile
    level_window: int = 60  # minutes used for ρ
    trend_window: int = 3  # minutes used for the level and slope of the residual
    trend_z: float = 4.0  # slope must exceed this many σ of minute-to-minute noise
    noise_window: int = 60  # minutes used to estimate that noise
    damping: float = 0.7  # φ: a slope adds at most β·φ/(1−φ) in all
    ratio_bounds: tuple[float, float] = (0.25, 4.0)

    def __post_init__(self) -> None:
        if not 0 <= self.damping < 1:
            raise ValueError("damping must be within [0, 1)")
        if self.trend_window < 2:
            raise ValueError("trend_window must be >= 2 minutes")
        if min(self.season_minutes, self.season_days, self.level_window, self.noise_window) < 1:
            raise ValueError("season, level and noise windows must be >= 1")


@dataclass(frozen=True)
class ScheduledEvent:
    """A live event we know is coming: its expected extra audience, from a schedule or sales."""

    start: datetime
    expected_peak: float  # extra concurrent viewers at its peak: the schedule's best estimate
    duration_s: float = 7200.0
    prescale_s: float = 120.0  # be at capacity this long before the start
    margin: float = 0.25  # provision for this much more than expected: estimates miss by ±20 %
    settle_s: float = 1200.0  # this long after the start the observed audience is the better guide
    region: str | None = None  # None: every region
    name: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("event start must be timezone-aware")
        if min(self.expected_peak, self.prescale_s, self.margin, self.settle_s) < 0 or self.duration_s <= 0:
            raise ValueError("expected_peak, prescale_s, margin and settle_s must be >= 0, duration_s > 0")

    def applies_to(self, region: str) -> bool:
        return self.region is None or self.region == region

    def expected_extra(self, minutes: pd.DatetimeIndex) -> np.ndarray:
        """Extra viewers to provision for: peak × (1 + margin), from prescale until settled.

        Once the crowd has arrived, the forecast follows what it observes (level and trend of
        the residual), which is better than the estimate; so the floor ends at ``settle_s``.
        """
        begin = pd.Timestamp(self.start - timedelta(seconds=self.prescale_s))
        end = pd.Timestamp(self.start + timedelta(seconds=min(self.settle_s, self.duration_s)))
        inside = (minutes >= begin) & (minutes < end)
        return np.where(inside, self.expected_peak * (1.0 + self.margin), 0.0)

    def affects(self, minutes: pd.DatetimeIndex) -> np.ndarray:
        """Minutes whose demand the event may have changed (kept out of the level ratio)."""
        begin = pd.Timestamp(self.start - timedelta(minutes=10))
        end = pd.Timestamp(self.start + timedelta(seconds=self.duration_s + 1800))
        return np.asarray((minutes >= begin) & (minutes < end))


@dataclass(frozen=True)
class Forecast:
    values: np.ndarray  # forecast for minutes n+1 … n+H
    baseline: np.ndarray  # ρ·S (or the recent level when no season), without events
    scheduled: np.ndarray  # expected extra audience of scheduled events
    level: float  # α
    trend: float  # β, per minute, after the significance test (0 when not significant)
    ratio: float  # ρ
    noise: float  # σ of minute-to-minute changes
    seasonal: bool  # whether a diurnal profile was available

    @property
    def peak(self) -> float:
        return float(self.values.max()) if self.values.size else 0.0


def seasonal_profile(y: np.ndarray, indices: np.ndarray, config: ForecastConfig) -> np.ndarray | None:
    """Median over previous days of the smoothed value at the same minute; None without a full day."""
    period, half, last = config.season_minutes, config.season_smooth_minutes // 2, len(y) - 1
    days = np.arange(1, config.season_days + 1)[:, None]
    past = np.asarray(indices)[None, :] - period * days  # (days, minutes)
    # A past point counts only when its whole smoothing window is history (not the future of y).
    valid = (past - half >= 0) & (past + half <= last)
    if not valid.any(axis=0).all():
        return None
    cumulative = np.concatenate(([0.0], np.cumsum(y)))
    low, high = np.clip(past - half, 0, last), np.clip(past + half + 1, 0, last + 1)
    means = (cumulative[high] - cumulative[low]) / np.maximum(high - low, 1)
    if valid.all():  # the usual case, and np.median is much faster than np.nanmedian
        return np.asarray(np.median(means, axis=0))
    return np.asarray(np.nanmedian(np.where(valid, means, np.nan), axis=0))


def _level_ratio(y: np.ndarray, season: np.ndarray, clean: np.ndarray, config: ForecastConfig) -> float:
    usable = clean & (season > 0)
    ratios = (y[usable] / season[usable])[-config.level_window :]
    if ratios.size == 0:
        return 1.0
    low, high = config.ratio_bounds
    return float(np.clip(np.median(ratios), low, high))


def _noise(residual: np.ndarray) -> float:
    steps = np.diff(residual)
    if steps.size < 2:
        return 0.0
    mad = float(np.median(np.abs(steps - np.median(steps))))
    return _MAD_TO_SIGMA * mad / math.sqrt(2)  # a difference of two noisy minutes has √2 σ


def _level_and_trend(residual: np.ndarray, noise: float, config: ForecastConfig) -> tuple[float, float]:
    recent = residual[-config.trend_window :]
    if recent.size < 2:
        return float(recent[-1]) if recent.size else 0.0, 0.0
    x = np.arange(recent.size, dtype=float) - (recent.size - 1)  # last minute at x = 0
    slope, intercept = np.polyfit(x, recent, 1)
    if abs(slope) <= config.trend_z * max(noise, 1e-9):
        return float(recent.mean()), 0.0
    return float(intercept), float(slope)


def forecast_minutes(
    y: np.ndarray,
    horizon: int,
    config: ForecastConfig = ForecastConfig(),
    *,
    scheduled: np.ndarray | None = None,
    event_minutes: np.ndarray | None = None,
) -> Forecast:
    """Forecast minutes ``n+1 … n+horizon`` from the per-minute history ``y`` (``y[-1]`` is minute n).

    ``scheduled``: expected extra audience of known events for those ``horizon`` minutes;
    ``event_minutes``: bool per history minute, True where a known event may have shaped demand.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise ValueError("history must be a non-empty 1-D array of finite values")
    if horizon < 1:
        raise ValueError("horizon must be >= 1 minute")
    n = y.size - 1
    lookback = max(config.level_window, config.noise_window, config.trend_window)
    past_idx = np.arange(max(0, n - lookback * 6), n + 1)  # room to find clean minutes for ρ
    future_idx = np.arange(n + 1, n + 1 + horizon)
    clean = np.ones(past_idx.size, bool) if event_minutes is None else ~np.asarray(event_minutes)[past_idx]
    extra = np.zeros(horizon) if scheduled is None else np.asarray(scheduled, dtype=float)[:horizon]

    season = seasonal_profile(y, np.concatenate((past_idx, future_idx)), config)
    season_past, season_future = (None, None) if season is None else (season[: past_idx.size], season[past_idx.size :])
    if season_past is not None and season_future is not None:
        ratio = _level_ratio(y[past_idx], season_past, clean, config)
        residual = y[past_idx] - ratio * season_past
        baseline = ratio * season_future
    else:
        ratio, residual = 1.0, y[past_idx]
        clean_recent = y[past_idx][clean][-config.level_window :]
        baseline = np.full(horizon, float(np.median(clean_recent)) if clean_recent.size else float(y[n]))
    noise = _noise(residual[-config.noise_window :])
    level, trend = _level_and_trend(residual, noise, config)

    damped = np.cumsum(config.damping ** np.arange(1, horizon + 1))
    seasonal_part = baseline if season_future is not None else np.zeros(horizon)
    values = np.maximum(0.0, seasonal_part + level + trend * damped)
    if extra.any():
        values = np.maximum(values, baseline + extra)
    return Forecast(values, baseline, extra, level, trend, ratio, noise, season_future is not None)


def minute_index(history: pd.Series) -> pd.Series:
    """The series on a complete UTC minute grid; gaps of up to 10 minutes interpolated."""
    if history.empty:
        raise ValueError("no history")
    index = pd.DatetimeIndex(history.index)
    if index.tz is None:
        raise ValueError("history must have a timezone-aware index")
    series = pd.Series(history.to_numpy(dtype=float), index=index.tz_convert(UTC).floor("min"))
    series = series.groupby(level=0).max().sort_index()  # concurrency is a max over the minute
    grid = pd.date_range(series.index[0], series.index[-1], freq="min")
    return series.reindex(grid).interpolate(limit=10, limit_area="inside").ffill()


def forecast_series(
    history: pd.Series,
    horizon: int,
    config: ForecastConfig = ForecastConfig(),
    *,
    events: Sequence[ScheduledEvent] = (),
) -> Forecast:
    """:func:`forecast_minutes` for a per-minute series indexed by UTC timestamps."""
    series = minute_index(history)
    last = pd.Timestamp(series.index[-1])
    future = pd.date_range(last + pd.Timedelta(minutes=1), periods=horizon, freq="min")
    history_index = pd.DatetimeIndex(series.index)
    scheduled = np.zeros(horizon)
    affected = np.zeros(len(series), bool)
    for event in events:
        scheduled += event.expected_extra(future)
        affected |= event.affects(history_index)
    return forecast_minutes(series.to_numpy(), horizon, config, scheduled=scheduled, event_minutes=affected)
