"""The live demand source (the sessionizer's per-minute rollup in ClickHouse) and its API routes.

:class:`ClickHouseDemandSource` answers the :class:`~delivery.autoscaling.signals.DemandSource`
frame from :func:`warehouse.demand.demand`: per minute and region, the peak of concurrently active
views (REFERENCE §2 "concurrent viewers") and the egress in bits per second. The query, the only
one that knows the rollup's columns, is in :mod:`warehouse.demand`.

Regions are delivery regions, not ISO subdivisions: each country maps to one (``REGION_OF``,
a parameter), the rest go to ``other``.

:func:`warehouse_autoscaling_router` serves ``/v1/autoscaling/signals`` and
``/v1/autoscaling/metrics`` (Prometheus text of the signal's gauges, refreshed on each scrape) from
the warehouse-side API; the gateway forwards the first and appends the second to its own
``/metrics`` (:func:`delivery.gateway.add_metrics_source`).
"""

# No `from __future__ import annotations`: FastAPI must see the dependency, a local, at definition time.

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from delivery.autoscaling.api import autoscaling_router
from delivery.autoscaling.schedule import FileEventSchedule
from delivery.autoscaling.signals import DEMAND_COLUMNS, AutoscalingSignals, DemandUnavailableError, SignalConfig
from foundation.settings import Settings
from warehouse.demand import demand

log = logging.getLogger(__name__)

_REGION_COUNTRIES: dict[str, tuple[str, ...]] = {
    "na": ("US", "CA", "MX"),
    "sa": ("BR", "AR", "CL", "CO", "PE", "VE", "EC", "UY", "PY", "BO"),
    "eu": (
        "GB", "IE", "DE", "FR", "NL", "BE", "LU", "ES", "PT", "IT", "AT", "CH", "NO", "SE", "DK", "FI",
        "IS", "PL", "CZ", "SK", "HU", "RO", "BG", "GR", "HR", "SI", "EE", "LV", "LT", "UA",
    ),
    "apac": ("IN", "JP", "AU", "NZ", "CN", "KR", "SG", "ID", "TH", "VN", "PH", "MY", "HK", "TW", "PK", "BD"),
}  # fmt: skip
REGION_OF: dict[str, str] = {country: region for region, codes in _REGION_COUNTRIES.items() for country in codes}
OTHER_REGION = "other"


class ClickHouseDemandSource:
    """Per-minute concurrency and egress per delivery region, from the sessionizer's rollup."""

    def __init__(self, client: Callable[[], Client], region_of: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.region_of = dict(REGION_OF if region_of is None else region_of)

    def __call__(self, since: datetime, until: datetime) -> pd.DataFrame:
        frame = demand(self.client(), self.region_of, OTHER_REGION, since, until)
        if frame.empty:
            return pd.DataFrame({column: [] for column in DEMAND_COLUMNS})
        frame["concurrency"] = frame["concurrency"].clip(lower=0).astype(float)
        return frame[list(DEMAND_COLUMNS)]


def event_schedule(settings: Settings) -> FileEventSchedule | None:
    path = settings.autoscaling_events_file
    return FileEventSchedule(path) if path is not None else None


_build_lock = threading.Lock()


def signals_from_warehouse(request: Request) -> AutoscalingSignals:
    """The warehouse API's signal, built on first use from its warehouse, settings and registry."""
    state = request.app.state
    with _build_lock:
        signals: AutoscalingSignals | None = getattr(state, "autoscaling", None)
        if signals is None:
            settings: Settings = state.settings
            registry: CollectorRegistry = getattr(state, "registry", None) or CollectorRegistry()
            warehouse: Client = state.warehouse
            signals = AutoscalingSignals(
                ClickHouseDemandSource(lambda: warehouse),
                SignalConfig.from_settings(settings),
                schedule=event_schedule(settings),
                registry=registry,
            )
            state.autoscaling = signals
        return signals


def warehouse_autoscaling_router(
    get_signals: Callable[[Request], AutoscalingSignals] = signals_from_warehouse,
) -> APIRouter:
    router = autoscaling_router(get_signals)

    @router.get(
        "/metrics",
        summary="the signal's Prometheus gauges (qoe_desired_replicas{tier,region}, …)",
        response_class=PlainTextResponse,  # documents text/plain: Prometheus text, not JSON
    )
    def metrics(request: Request) -> Response:
        signals = get_signals(request)
        try:
            signals.document()  # refresh the gauges (polls closer than min_refresh_s reuse the last one)
        except DemandUnavailableError as exc:
            log.warning("autoscaling gauges not refreshed: %s", exc)
        return Response(generate_latest(signals.registry), media_type=CONTENT_TYPE_LATEST)

    return router
