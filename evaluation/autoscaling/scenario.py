"""Demand scenarios to replay: a synthetic diurnal week-day with a live event, or a real CSV.

The synthetic scenario is shaped after what public traffic reports of video services show: a
night trough near 15 % of the evening peak, a small lunchtime bump, a broad prime-time peak
around 21:00 local time; day-to-day variation of a few per cent; slowly varying multiplicative
noise plus sampling noise. A live event starts at 20:00 local time on the last day: a trickle of
early joiners, then the audience ramps from a few per cent to its peak within about three minutes
(10 % → 90 % in 2.6 min), decays slowly during the event and leaves within minutes at its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from delivery.autoscaling.forecast import MINUTES_PER_DAY, ScheduledEvent

PEAK_SHARE = 0.97
FLASH_WINDOW_MIN = 20


@dataclass(frozen=True)
class Scenario:
    start: datetime  # UTC start of minute 0
    region: str
    concurrency: np.ndarray  # per minute: max concurrent started views
    egress_bps: np.ndarray  # per minute
    eval_start: int  # first evaluated minute; the minutes before are history
    schedule: tuple[ScheduledEvent, ...]  # what the operator knew in advance
    flash_window: tuple[int, int]  # minutes [start, end) holding the flash crowd's peak
    description: str

    def __post_init__(self) -> None:
        if self.concurrency.shape != self.egress_bps.shape or self.concurrency.ndim != 1:
            raise ValueError("concurrency and egress must be 1-D and the same length")
        if not 0 < self.eval_start < self.concurrency.size:
            raise ValueError("eval_start must leave both history and minutes to evaluate")
        low, high = self.flash_window
        if not self.eval_start <= low < high <= self.concurrency.size:
            raise ValueError("the flash-crowd window must be inside the evaluated minutes")

    @property
    def max_minute(self) -> int:
        """The minute of the highest demand in the flash-crowd window."""
        low, high = self.flash_window
        return low + int(np.argmax(self.concurrency[low:high]))

    @property
    def peak_minute(self) -> int:
        """When the crowd has arrived: the first minute within 3 % of the window's maximum.

        Audiences plateau after the ramp, so the exact maximum is often a noise-driven minute long
        after the crowd arrived; measuring lead time against it would flatter every autoscaler.
        """
        low, high = self.flash_window
        window = self.concurrency[low:high]
        return low + int(np.argmax(window >= PEAK_SHARE * window.max()))

    def minute_start(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)


def _bump(hour: np.ndarray, centre: float, kappa: float) -> np.ndarray:
    """A smooth daily bump (von Mises shape on the 24 h circle), 1 at ``centre``."""
    return np.asarray(np.exp(kappa * (np.cos(2 * np.pi * (hour - centre) / 24.0) - 1.0)))


def _raw_shape(hour: np.ndarray) -> np.ndarray:
    evening, lunch, morning = _bump(hour, 21.0, 2.6), _bump(hour, 12.75, 9.0), _bump(hour, 8.0, 12.0)
    return 0.78 * evening + 0.16 * lunch + 0.08 * morning


def diurnal_shape(local_hour: np.ndarray, trough: float = 0.13) -> np.ndarray:
    """Share of the evening peak audience at each local hour (max 1, min ``trough``)."""
    day = _raw_shape(np.linspace(0.0, 24.0, MINUTES_PER_DAY + 1))
    low, high = day.min(), day.max()
    return np.asarray(trough + (1 - trough) * (_raw_shape(local_hour) - low) / (high - low))


def event_audience(minutes_since_start: np.ndarray, peak: float, duration_min: float) -> np.ndarray:
    """Concurrent viewers of the live event (0 outside it)."""
    tau = minutes_since_start
    early = 0.04 * np.clip((tau + 15.0) / 15.0, 0.0, 1.0)  # early joiners in the quarter hour before
    ramp = early + (1 - early) * expit((tau - 2.0) / 0.6)  # logistic: 10 % → 90 % in 2.6 min
    slow_decay = 1.0 - 0.10 * np.clip(tau - 5.0, 0.0, None) / 60.0
    leaving = np.exp(-np.clip(tau - duration_min, 0.0, None) / 3.0)
    audience = peak * ramp * slow_decay * leaving
    return np.where(tau >= -15.0, audience, 0.0)


def synthetic_scenario(
    seed: int = 0,
    *,
    days: int = 4,
    region: str = "eu",
    utc_offset_h: int = 1,
    evening_peak: float = 120_000.0,
    event_peak: float = 250_000.0,
    event_local_hour: float = 20.0,
    event_duration_min: float = 110.0,
    schedule_error: float = -0.2,
) -> Scenario:
    """``days`` days of per-minute demand; the event is on the last day.

    ``schedule_error``: how wrong the schedule's audience estimate is (−0.2: it expects 20 % fewer
    viewers than come), so the evaluation does not reward a perfect oracle.
    """
    if days < 2:
        raise ValueError("need at least 2 days: 1 of history and the evaluated day")
    rng = np.random.default_rng(seed)
    start = datetime(2026, 9, 14, tzinfo=UTC)
    minutes = np.arange(days * MINUTES_PER_DAY)
    local_hour = (minutes / 60.0 + utc_offset_h) % 24.0
    day_factor = np.repeat(rng.normal(1.0, 0.04, days), MINUTES_PER_DAY)
    drift = np.empty(minutes.size)  # AR(1) multiplicative noise, ~1.3 % standard deviation
    drift[0] = 0.0
    shocks = rng.normal(0.0, 0.004, minutes.size)
    for i in range(1, minutes.size):
        drift[i] = 0.95 * drift[i - 1] + shocks[i]
    base = evening_peak * diurnal_shape(local_hour) * day_factor * (1.0 + drift)

    event_start_min = (days - 1) * MINUTES_PER_DAY + int((event_local_hour - utc_offset_h) * 60)
    event = event_audience(minutes - event_start_min, event_peak, event_duration_min) * (1.0 + drift)
    concurrency = np.maximum(0.0, base + event + rng.normal(0.0, np.sqrt(base + event)))
    bitrate_vod = 4.2e6 * (1.0 + 0.1 * _bump(local_hour, 21.0, 2.6))  # evening TV watches higher rungs
    egress = (base * bitrate_vod + event * 5.5e6) * (1.0 + rng.normal(0.0, 0.01, minutes.size))
    event_start = start + timedelta(minutes=event_start_min)
    schedule = ScheduledEvent(
        start=event_start,
        expected_peak=event_peak * (1.0 + schedule_error),
        duration_s=event_duration_min * 60.0,
        region=region,
        name="live event",
    )
    return Scenario(
        start=start,
        region=region,
        concurrency=np.round(concurrency),
        egress_bps=np.maximum(0.0, egress),
        eval_start=(days - 1) * MINUTES_PER_DAY,
        schedule=(schedule,),
        flash_window=(event_start_min, event_start_min + FLASH_WINDOW_MIN),
        description=(
            f"synthetic, seed {seed}: {days} days in region {region}, evening peak ≈{evening_peak:,.0f} viewers; "
            f"live event at {event_start:%H:%M} UTC ramping to ≈{event_peak:,.0f} extra viewers; "
            f"schedule expects {event_peak * (1 + schedule_error):,.0f}"
        ),
    )


def csv_scenario(
    path: Path,
    *,
    region: str | None = None,
    bitrate_kbps: float = 4500.0,
    event_start: datetime | None = None,
    event_expected_peak: float | None = None,
    event_duration_s: float = 7200.0,
) -> Scenario:
    """Real per-minute demand from a CSV with ``minute,concurrency[,egress_bps][,region]``.

    The last day (or everything after the first two hours, if shorter) is evaluated. Without
    ``egress_bps`` the egress is ``concurrency × bitrate_kbps``. The lead time is measured
    against the peak within 20 minutes of ``event_start``, or the highest minute otherwise.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if {"minute", "concurrency"} - set(frame.columns):
        raise ValueError(f"{path} needs the columns minute and concurrency (has {list(frame.columns)})")
    if "region" in frame.columns:
        regions = sorted(frame["region"].astype(str).unique())
        region = region or regions[0]
        if region not in regions:
            raise ValueError(f"region {region!r} is not in {path} (has {regions})")
        frame = frame[frame["region"].astype(str) == region]
    try:
        minutes = pd.to_datetime(frame["minute"], utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable minute timestamps ({exc})") from None
    concurrency = pd.to_numeric(frame["concurrency"], errors="coerce")
    egress = (
        pd.to_numeric(frame["egress_bps"], errors="coerce")
        if "egress_bps" in frame.columns
        else concurrency * bitrate_kbps * 1000.0
    )
    series = pd.DataFrame({"c": concurrency.to_numpy(), "e": egress.to_numpy()}, index=minutes.dt.floor("min"))
    if series.isna().any().any() or (series < 0).any().any():
        raise ValueError(f"{path}: concurrency/egress_bps must be non-negative numbers on every row")
    if series.empty:
        raise ValueError(f"{path}: no rows" + (f" for region {region!r}" if region else ""))
    series = series.groupby(level=0).max().sort_index()
    grid = pd.date_range(series.index[0], series.index[-1], freq="min")
    series = series.reindex(grid).interpolate(limit_area="inside")
    size = len(series)
    if size < 180:
        raise ValueError(f"{path}: need at least 3 hours of minutes, got {size}")
    eval_start = max(120, size - MINUTES_PER_DAY)
    conc = series["c"].to_numpy()
    schedule: tuple[ScheduledEvent, ...] = ()
    if event_start is not None:
        start_min = int((pd.Timestamp(event_start) - grid[0]).total_seconds() // 60)
        if not eval_start <= start_min < size:
            raise ValueError("event_start must fall inside the evaluated part of the CSV")
        flash_window = (start_min, min(size, start_min + FLASH_WINDOW_MIN))
        if event_expected_peak is not None:
            schedule = (ScheduledEvent(event_start, event_expected_peak, event_duration_s, name="scheduled event"),)
    else:
        flash_window = (eval_start, size)
    return Scenario(
        start=grid[0].to_pydatetime(),
        region=region or "csv",
        concurrency=conc,
        egress_bps=series["e"].to_numpy(),
        eval_start=eval_start,
        schedule=schedule,
        flash_window=flash_window,
        description=f"{path.name}: {size} minutes, evaluated from minute {eval_start}",
    )
