"""Delivery on the gateway: the live steering service, its score feed and decision log, and metrics.

``mount_delivery(app, settings, bootstrap)`` adds to the ingest gateway:

* ``app.state.steering``: a :class:`SteeringService` whose :class:`ScoreBoard` is fed by
  :class:`ScoreFeed`, an aiokafka consumer without a group that reads the compacted
  ``cdn-scores`` topic from the beginning (the latest figure of every key) and then follows it.
* :class:`KafkaDecisionLog`: every priority change goes to ``steering-decisions`` through a
  kafka-python producer (never blocking a steering request for more than ``max_block_ms``); the
  stream worker writes it to ClickHouse.
* The steering routes (``/v1/steering/hls|dash|decision|scores|groups``), placed before the
  gateway's catch-all proxy to the warehouse API.
* ``/metrics`` hook: :func:`add_metrics_source` lets any component append Prometheus text to the
  gateway's ``/metrics``. The gateway's own registry (``app.state.metrics.registry``) comes first,
  then each source in order. Delivery adds the steering service's counters and the warehouse
  API's ``/v1/autoscaling/metrics`` (``qoe_desired_replicas{tier,region}`` and the forecast
  gauges), fetched at scrape time with the scraper's own ``Authorization`` (the warehouse API
  needs a read token; the gateway holds no credential of its own); when the warehouse API is
  down or refuses, the scrape still succeeds and ``qoe_autoscaling_metrics_up`` says 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from delivery.steering.api import state_router, steering_router
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import DecisionRecord, SteeringConfig, SteeringService
from foundation.kafka_security import aiokafka_options, kafka_python_options
from foundation.settings import Settings

log = logging.getLogger(__name__)

MetricsSource = Callable[[], Awaitable[bytes]]
# The Authorization header of the scrape being answered: upstream sources pass it on, so the
# scraper's token (not one of the gateway's) is what the warehouse API checks.
SCRAPE_AUTHORIZATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("scrape_authorization", default=None)


# --- the score feed -----------------------------------------------------------------------------


class ScoreFeed:
    """Follows the compacted scores topic into a board: from the beginning, then as records come."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        board: ScoreBoard,
        *,
        client_id: str = "qoe-steering",
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.board = board
        self.client_id = client_id
        self.security = dict(security or {})  # aiokafka's TLS/SASL options (foundation.kafka_security)
        self.records = 0
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with back-off after failures."""
        delay = 0.5
        while not stop.is_set():
            consume = asyncio.create_task(self._consume(stop))
            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({consume, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:  # do not wait out a connection attempt to a broker that is away
                consume.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await consume
                return
            stopped.cancel()
            failure = consume.exception()
            if failure is None:
                return
            # The broker is down or restarting: steering keeps its last figures meanwhile.
            self.errors += 1
            log.warning("score feed from %s failed (%s); retrying in %.1f s", self.topic, failure, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)

    async def _consume(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer

        # No group: every gateway replica reads every partition, from the earliest record kept.
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.security,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for messages in batches.values():
                    for message in messages:
                        self.board.ingest(message.key, message.value)
                        self.records += 1
        finally:
            await consumer.stop()


# --- the decision log ---------------------------------------------------------------------------


class KafkaDecisionLog:
    """The service's :class:`DecisionLog`: one JSON record per priority change, keyed by group."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        max_block_ms: int = 100,
        bootstrap_timeout_ms: int = 3000,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="qoe-steering-decisions",
            linger_ms=50,
            max_block_ms=max_block_ms,  # a full buffer fails the log write, never the request
            bootstrap_timeout_ms=bootstrap_timeout_ms,  # retried by the caller while Kafka is away
            **(security or {}),  # kafka-python's TLS/SASL options (foundation.kafka_security)
        )

    def __call__(self, record: DecisionRecord) -> None:
        self._producer.send(self.topic, key=record.group.key.encode(), value=orjson.dumps(record.to_row()))

    def close(self) -> None:
        self._producer.flush(5)
        self._producer.close(5)


# --- metrics ------------------------------------------------------------------------------------


class SteeringCollector(Collector):
    """The service's counters at scrape time."""

    def __init__(self, service: SteeringService, feed: ScoreFeed | None = None) -> None:
        self.service = service
        self.feed = feed

    def collect(self) -> Iterator[Metric]:
        stats = self.service.stats
        for name, value, help_text in (
            ("qoe_steering_requests", stats.requests, "Steering decisions answered."),
            ("qoe_steering_priority_changes", stats.priority_changes, "Changes of a group's priority."),
            ("qoe_steering_explored", stats.explored, "Answers that explored an alternative."),
            ("qoe_steering_capped", stats.capped, "Answers that demoted a CDN over its cap."),
            ("qoe_steering_client_switches", stats.client_switches, "Clients told to change pathway."),
            ("qoe_steering_decision_log_failures", stats.decision_log_failures, "Decisions not logged."),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        yield GaugeMetricFamily("qoe_steering_scores", "Figures on the steering board.", value=len(self.service.board))
        yield CounterMetricFamily(
            "qoe_steering_scores_rejected", "Score records that did not decode.", value=self.service.board.rejected
        )
        if self.feed is not None:
            yield CounterMetricFamily("qoe_steering_feed_records", "Score records consumed.", value=self.feed.records)


def add_metrics_source(app: FastAPI, source: MetricsSource) -> None:
    """Append ``source``'s Prometheus text to the gateway's ``/metrics``."""
    sources: list[MetricsSource] | None = getattr(app.state, "metrics_sources", None)
    if sources is None:
        sources = app.state.metrics_sources = []
        router = APIRouter()

        @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        async def metrics(request: Request) -> Response:
            SCRAPE_AUTHORIZATION.set(request.headers.get("authorization"))
            parts = [generate_latest(app.state.metrics.registry)]
            for extra in list(app.state.metrics_sources):
                parts.append(await extra())
            return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)

        include_first(app, router)
    sources.append(source)


def registry_source(registry: CollectorRegistry) -> MetricsSource:
    async def render() -> bytes:
        return generate_latest(registry)

    return render


def upstream_source(client: httpx.AsyncClient, url: str, *, timeout_s: float = 3.0) -> MetricsSource:
    """Another process's Prometheus text; an unreachable upstream is a gauge, not a failed scrape."""

    async def render() -> bytes:
        authorization = SCRAPE_AUTHORIZATION.get()
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await client.get(url, timeout=timeout_s, headers=headers)
            response.raise_for_status()
            body = response.content
        except httpx.HTTPError as exc:
            log.warning("autoscaling metrics unavailable from %s: %s", url, type(exc).__name__)
            body, up = b"", 0
        else:
            up = 1
        help_line = b"# HELP qoe_autoscaling_metrics_up Whether the warehouse API's autoscaling metrics answered.\n"
        gauge = b"# TYPE qoe_autoscaling_metrics_up gauge\nqoe_autoscaling_metrics_up %d\n" % up
        return body + help_line + gauge

    return render


# --- mounting -----------------------------------------------------------------------------------


def include_first(app: FastAPI, router: APIRouter) -> None:
    """Include ``router`` ahead of the routes already there (the gateway's catch-all proxy)."""
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added


def chain_lifespan(app: FastAPI, extra: Callable[[], contextlib.AbstractAsyncContextManager[None]]) -> None:
    """Run ``extra`` inside the app's existing lifespan (started after it, stopped before it)."""
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with original(application) as state, extra():
            yield state

    app.router.lifespan_context = lifespan


async def _attach_decision_log(
    service: SteeringService, bootstrap: str, topic: str, stop: asyncio.Event, security: Mapping[str, Any]
) -> None:
    """Connect the decision log, retrying while Kafka is away: the gateway serves meanwhile
    (priority changes are then not logged, and counted as such)."""
    delay = 1.0
    while not stop.is_set():
        try:
            service.decision_log = await asyncio.to_thread(KafkaDecisionLog, bootstrap, topic, security=security)
            return
        except Exception as exc:  # NoBrokersAvailable and friends
            log.warning("steering decision log not connected (%s); retrying in %.0f s", type(exc).__name__, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)


def mount_delivery(
    app: FastAPI, settings: Settings, bootstrap: str, *, warehouse_api: str | None = None
) -> SteeringService:
    """Steering service + score feed + decision log + routes + metrics on the gateway ``app``."""
    config = SteeringConfig.from_settings(settings)
    board = ScoreBoard(min_views=config.policy.min_views, max_age_s=config.policy.max_age_s)
    service = SteeringService(config, board, instance=settings.steering_instance)
    # Built here, not in the tasks, so contradictory TLS/SASL settings fail the gateway's start
    # instead of being retried as if Kafka were away.
    decision_log_security = kafka_python_options(settings)
    feed = ScoreFeed(bootstrap, settings.topic_cdn_scores, board, security=aiokafka_options(settings))
    app.state.steering = service
    app.state.steering_feed = feed
    upstream = warehouse_api or settings.resolved_internal_api_url()
    metrics_client = httpx.AsyncClient()

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(feed.run(stop), name="steering-score-feed"),
            asyncio.create_task(
                _attach_decision_log(
                    service, bootstrap, settings.topic_steering_decisions, stop, decision_log_security
                ),
                name="steering-decision-log",
            ),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            decision_log, service.decision_log = service.decision_log, None
            if isinstance(decision_log, KafkaDecisionLog):
                await asyncio.to_thread(decision_log.close)
            await metrics_client.aclose()

    chain_lifespan(app, running)
    include_first(app, steering_router())
    include_first(app, state_router())
    registry = CollectorRegistry()
    registry.register(SteeringCollector(service, feed))
    add_metrics_source(app, registry_source(registry))
    add_metrics_source(app, upstream_source(metrics_client, f"{upstream}/v1/autoscaling/metrics"))
    return service
