"""Autoscaling signals: forecast demand per region and turn it into desired replicas per tier.

:class:`AutoscalingSignals` reads per-minute demand from a :class:`DemandSource` (ClickHouse in
production, a fake in tests), forecasts the next minutes, sizes every tier with headroom,
stabilises scale-down, publishes Prometheus gauges on the registry it is given and returns a
JSON document that KEDA's metrics-api scaler can read (``regions.<region>.tiers.<tier>.desired_replicas``).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Gauge

from delivery.autoscaling.capacity import UNITS, CapacityModel, ScaleDownStabiliser, Tier
from delivery.autoscaling.forecast import Forecast, ForecastConfig, ScheduledEvent, forecast_minutes, minute_index
from foundation.settings import Settings, default_of

DEMAND_COLUMNS = ("minute", "region", "concurrency", "egress_bps")


class DemandUnavailableError(RuntimeError):
    """The demand source failed or answered something unusable."""


class DemandSource(Protocol):
    """Per-minute demand per region between two instants, as a frame with :data:`DEMAND_COLUMNS`.

    ``minute`` is the UTC start of the minute; ``concurrency`` the maximum of concurrent started
    views in it (REFERENCE §2); ``egress_bps`` the sum of the bitrates of the active views.
    """

    def __call__(self, since: datetime, until: datetime) -> pd.DataFrame: ...


class EventSchedule(Protocol):
    def __call__(self, now: datetime) -> Sequence[ScheduledEvent]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SignalConfig:
    """The signal's configuration (``QOE_AUTOSCALING_*``; the defaults are the settings')."""

    capacity: CapacityModel = field(default_factory=CapacityModel)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    # Pod start-up 60 s + KEDA poll 30 s + HPA sync 15 s, rounded up.
    provision_minutes: int = default_of("autoscaling_provision_minutes")
    # The forecast already looks ahead; this only stops flapping.
    stabilisation_s: float = default_of("autoscaling_stabilisation_s")
    # A region whose newest minute is older is left out.
    max_data_age_s: float = default_of("autoscaling_max_data_age_s")
    min_refresh_s: float = 15.0  # polls closer together than this reuse the last document
    tiers: tuple[Tier, ...] = tuple(Tier)

    def __post_init__(self) -> None:
        if self.provision_minutes < 0 or self.max_data_age_s <= 0 or self.min_refresh_s < 0:
            raise ValueError("provision_minutes and min_refresh_s must be >= 0, max_data_age_s > 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> SignalConfig:
        return cls(
            capacity=CapacityModel.from_settings(settings),
            provision_minutes=settings.autoscaling_provision_minutes,
            stabilisation_s=settings.autoscaling_stabilisation_s,
            max_data_age_s=settings.autoscaling_max_data_age_s,
        )

    @property
    def history_minutes(self) -> int:
        forecast = self.forecast
        return forecast.season_minutes * forecast.season_days + 6 * max(forecast.level_window, forecast.noise_window)


@dataclass(frozen=True)
class RegionPlan:
    """One region's forecast and the replicas each tier needs for it (before stabilisation)."""

    concurrency: Forecast
    egress_bps: Forecast
    loads: dict[Tier, float]
    desired: dict[Tier, int]


def plan_region(
    concurrency: np.ndarray,
    egress_bps: np.ndarray,
    horizon: int,
    config: SignalConfig,
    *,
    scheduled_viewers: np.ndarray | None = None,
    event_minutes: np.ndarray | None = None,
) -> RegionPlan:
    """Forecast both series ``horizon`` minutes ahead and size the tiers for the peak of it."""
    conc = forecast_minutes(
        concurrency, horizon, config.forecast, scheduled=scheduled_viewers, event_minutes=event_minutes
    )
    recent_c, recent_e = concurrency[-15:].sum(), egress_bps[-15:].sum()
    bits_per_viewer = float(recent_e / recent_c) if recent_c > 0 else 0.0
    scheduled_egress = None if scheduled_viewers is None else scheduled_viewers * bits_per_viewer
    egress = forecast_minutes(
        egress_bps, horizon, config.forecast, scheduled=scheduled_egress, event_minutes=event_minutes
    )
    capacity = config.capacity
    loads = {tier: capacity.load(tier, conc.peak, egress.peak) for tier in config.tiers}
    desired = {tier: capacity.desired(tier, load) for tier, load in loads.items()}
    return RegionPlan(conc, egress, loads, desired)


def horizon_minutes(last_minute: datetime, now: datetime, provision_minutes: int) -> int:
    """Minutes after the newest complete minute through ``now + provision``: what must be served."""
    behind = max(0.0, (now - last_minute).total_seconds() / 60.0 - 1.0)
    return max(1, math.ceil(behind) + provision_minutes)


class _Gauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.desired = Gauge(
            "qoe_desired_replicas", "Desired replicas per tier and region.", ["tier", "region"], registry=registry
        )
        self.tier_load = Gauge(
            "qoe_forecast_tier_load",
            "Forecast peak load of a tier over the provisioning horizon, in the tier's unit.",
            ["tier", "region"],
            registry=registry,
        )
        self.forecast_concurrency = Gauge(
            "qoe_forecast_concurrency", "Forecast peak concurrent viewers.", ["region"], registry=registry
        )
        self.forecast_egress = Gauge(
            "qoe_forecast_egress_bps", "Forecast peak egress, bits/s.", ["region"], registry=registry
        )
        self.observed_concurrency = Gauge(
            "qoe_observed_concurrency", "Concurrent viewers, newest complete minute.", ["region"], registry=registry
        )
        self.observed_egress = Gauge(
            "qoe_observed_egress_bps", "Egress in the newest complete minute, bits/s.", ["region"], registry=registry
        )
        self._regions: set[str] = set()
        self._tiers: set[str] = set()

    def publish(self, regions: dict[str, dict[str, Any]]) -> None:
        for region in self._regions - set(regions):
            self._forget(region)
        for region, doc in regions.items():
            self.observed_concurrency.labels(region).set(doc["observed"]["concurrency"])
            self.observed_egress.labels(region).set(doc["observed"]["egress_bps"])
            self.forecast_concurrency.labels(region).set(doc["forecast"]["peak_concurrency"])
            self.forecast_egress.labels(region).set(doc["forecast"]["peak_egress_bps"])
            for tier, tier_doc in doc["tiers"].items():
                self.desired.labels(tier, region).set(tier_doc["desired_replicas"])
                self.tier_load.labels(tier, region).set(tier_doc["load"])
                self._tiers.add(tier)
        self._regions = set(regions)

    def _forget(self, region: str) -> None:
        for gauge in (self.observed_concurrency, self.observed_egress, self.forecast_concurrency, self.forecast_egress):
            gauge.remove(region)
        for tier in self._tiers:
            for gauge in (self.desired, self.tier_load):
                with contextlib.suppress(KeyError):  # a tier that region never had
                    gauge.remove(tier, region)


def check_demand_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a source's answer; raises ValueError naming what is wrong."""
    missing = [column for column in DEMAND_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"demand frame lacks columns {missing}")
    minutes = pd.to_datetime(frame["minute"], utc=True)
    values = frame[["concurrency", "egress_bps"]].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or (values < 0).any().any():
        raise ValueError("concurrency and egress_bps must be non-negative numbers")
    return pd.DataFrame({"minute": minutes, "region": frame["region"].astype(str), **values})


class AutoscalingSignals:
    """The live signal: one :meth:`document` per poll, gauges updated as a side effect."""

    def __init__(
        self,
        source: DemandSource,
        config: SignalConfig | None = None,
        *,
        schedule: EventSchedule | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.source = source
        self.config = config or SignalConfig()
        self.schedule = schedule
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        self._gauges = _Gauges(self.registry)
        self._stabilisers: dict[tuple[str, Tier], ScaleDownStabiliser] = {}
        self._last: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()  # the HTTP layer may call from several threads

    def document(self, now: datetime | None = None) -> dict[str, Any]:
        """The signal document at ``now``. Raises :class:`DemandUnavailableError` when the source fails."""
        now = now or self.clock()
        with self._lock:
            if self._last is not None and 0 <= now.timestamp() - self._last[0] < self.config.min_refresh_s:
                return self._last[1]
            document = self._compute(now)
            self._last = (now.timestamp(), document)
            return document

    def _compute(self, now: datetime) -> dict[str, Any]:
        since = now - timedelta(minutes=self.config.history_minutes)
        try:
            frame = check_demand_frame(self.source(since, now))
            # A schedule that cannot be read is no reason to guess: an event may be missed.
            events = list(self.schedule(now)) if self.schedule is not None else []
        except Exception as exc:  # whatever the source raises (network, driver, bad data)
            raise DemandUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        regions = {}
        for region, rows in frame.groupby("region", sort=True):
            signal = self._region(str(region), rows, now, events)
            if signal is not None:
                regions[str(region)] = signal
        document = {
            "generated_at": now.isoformat(),
            "provision_minutes": self.config.provision_minutes,
            "stabilisation_s": self.config.stabilisation_s,
            "regions": regions,
        }
        self._gauges.publish(regions)
        return document

    def _region(
        self, region: str, rows: pd.DataFrame, now: datetime, events: Sequence[ScheduledEvent]
    ) -> dict[str, Any] | None:
        started = time.perf_counter()
        rows = rows[rows["minute"] <= pd.Timestamp(now) - pd.Timedelta(minutes=1)]  # complete minutes only
        if rows.empty:
            return None
        concurrency = minute_index(rows.set_index("minute")["concurrency"])
        egress = minute_index(rows.set_index("minute")["egress_bps"]).reindex(concurrency.index).ffill().fillna(0.0)
        last = pd.Timestamp(concurrency.index[-1]).to_pydatetime()
        if (now - last).total_seconds() > self.config.max_data_age_s:
            return None  # stale: KEDA falls back to its configured fallback replicas
        horizon = horizon_minutes(last, now, self.config.provision_minutes)
        future = pd.date_range(pd.Timestamp(last) + pd.Timedelta(minutes=1), periods=horizon, freq="min")
        history = pd.DatetimeIndex(concurrency.index)
        applicable = [event for event in events if event.applies_to(region)]
        scheduled = sum((event.expected_extra(future) for event in applicable), np.zeros(horizon))
        affected = np.zeros(len(history), bool)
        for event in applicable:
            affected |= event.affects(history)
        plan = plan_region(
            concurrency.to_numpy(),
            egress.to_numpy(),
            horizon,
            self.config,
            scheduled_viewers=scheduled,
            event_minutes=affected,
        )
        tiers = {}
        for tier in self.config.tiers:
            stabiliser = self._stabilisers.setdefault((region, tier), ScaleDownStabiliser(self.config.stabilisation_s))
            tiers[tier.value] = {
                "desired_replicas": stabiliser.update(now.timestamp(), plan.desired[tier]),
                "unstabilised_replicas": plan.desired[tier],
                "load": round(plan.loads[tier], 3),
                "unit": UNITS[tier],
                "per_replica": self.config.capacity.per_replica(tier),
            }
        return {
            "observed": {
                "minute": last.isoformat(),
                "concurrency": float(concurrency.iloc[-1]),
                "egress_bps": float(egress.iloc[-1]),
            },
            "forecast": {
                "horizon_minutes": horizon,
                "peak_concurrency": round(plan.concurrency.peak, 1),
                "peak_egress_bps": round(plan.egress_bps.peak, 1),
                "concurrency": [round(float(v), 1) for v in plan.concurrency.values],
                "trend_per_minute": round(plan.concurrency.trend, 3),
                "level_ratio": round(plan.concurrency.ratio, 4),
                "seasonal": plan.concurrency.seasonal,
                "scheduled_viewers": round(float(plan.concurrency.scheduled.max(initial=0.0)), 1),
                "events": [event.name or event.start.isoformat() for event in applicable],
            },
            "tiers": tiers,
            "compute_ms": round((time.perf_counter() - started) * 1000, 2),
        }
