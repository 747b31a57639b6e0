"""Prometheus metrics of ingest, on a registry owned by the app (tests build many apps)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class IngestMetrics:
    """Label children are looked up once: a labels() call per request shows up in the profile."""

    registry: CollectorRegistry
    beacons: Counter
    events: Counter
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> IngestMetrics:
        registry = registry or CollectorRegistry()
        return cls(
            registry=registry,
            beacons=Counter(
                "qoe_ingest_beacons", "Beacon requests by outcome.", ["endpoint", "outcome"], registry=registry
            ),
            events=Counter("qoe_ingest_events", "Player events accepted.", ["endpoint"], registry=registry),
            latency=Histogram(
                "qoe_ingest_request_seconds",
                "Time from request to answer, including Kafka's acknowledgement.",
                ["endpoint"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                registry=registry,
            ),
        )

    @cache  # noqa: B019 - one metrics object per app, bounded label values
    def outcome(self, endpoint: str, outcome: str) -> Counter:
        return self.beacons.labels(endpoint, outcome)

    @cache  # noqa: B019
    def events_of(self, endpoint: str) -> Counter:
        return self.events.labels(endpoint)

    @cache  # noqa: B019
    def latency_of(self, endpoint: str) -> Histogram:
        return self.latency.labels(endpoint)
