"""The stream worker: which agents it runs (the wiring), and running it until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust

from foundation.kafka_security import kafka_python_options
from foundation.process import freeze_startup_objects
from foundation.settings import Settings
from foundation.topics import cluster_id, ensure_topics, platform_topics
from recommender.retrain import add_retrain
from streams.app import StreamsContext, add_raw_sink, faust_app
from streams.cdn_scores.agents import add_steering_agents
from streams.sessionizer.agent import add_sessionizer
from warehouse.client import connect
from warehouse.migrations import migrate

log = logging.getLogger(__name__)


def create_app(settings: Settings, bootstrap: str, ctx: StreamsContext) -> faust.App:
    """The worker's Faust app with every agent of the platform."""
    app = faust_app(settings, bootstrap, settings.faust_app_id)
    add_raw_sink(app, ctx)
    add_sessionizer(app, ctx)
    add_steering_agents(app, settings, ctx.warehouse)
    add_retrain(app, settings, ctx.warehouse)
    return app


def build_worker_app(settings: Settings, bootstrap: str) -> faust.App:
    security = kafka_python_options(settings)
    ensure_topics(bootstrap, platform_topics(settings), security=security)
    client = connect(settings, bounded=False)  # a backfill migration may outlast the read bounds
    applied = migrate(client, settings)
    if applied:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
    source = f"{cluster_id(bootstrap, security=security)}/{settings.topic_beacons}"
    return create_app(settings, bootstrap, StreamsContext(settings, lambda: connect(settings), source))


def run_worker(settings: Settings, bootstrap: str, on_started: Callable[[], None] | None = None) -> int:
    """Blocks until the worker stops; returns its exit code."""
    app = build_worker_app(settings, bootstrap)
    if on_started is not None:

        @app.task
        async def announce() -> None:
            on_started()

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    freeze_startup_objects()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
