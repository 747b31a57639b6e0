"""FastAPI dependency aliases: what a route needs, resolved from the app that owns it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from foundation.settings import Settings
from ingest.metrics import IngestMetrics
from ingest.producer import RecordSink


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sink(request: Request) -> RecordSink:
    sink: RecordSink = request.app.state.sink
    return sink


async def get_metrics(request: Request) -> IngestMetrics:
    metrics: IngestMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
SinkDep = Annotated[RecordSink, Depends(get_sink)]
MetricsDep = Annotated[IngestMetrics, Depends(get_metrics)]
