"""Topic layout and creation (kafka-python admin: producing and admin only, never consumer groups)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from foundation.settings import Settings

# The sessionizer's Faust table of open views; Faust may not declare topics, so its changelog is made here.
REGISTRY_TABLE = "sessionizer-open-views"
# With three replicas or more, an acks=all write (ingest's) is acknowledged only once two replicas
# hold it, so losing one broker loses no accepted beacon; below three it would stop every write.
MIN_INSYNC_REPLICAS = 2
MIN_INSYNC_FROM_REPLICATION = 3


def registry_topic(app_id: str) -> str:
    """The changelog topic of the sessionizer's open-view registry table."""
    return f"{app_id}-{REGISTRY_TABLE}-changelog"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    replication: int = 1


def platform_topics(settings: Settings) -> list[TopicSpec]:
    retention_ms = str(settings.raw_retention_days * 86_400_000)
    specs = [
        TopicSpec(settings.topic_beacons, settings.topic_partitions, {"retention.ms": retention_ms}),
        TopicSpec(settings.topic_dead_letter, 1, {"retention.ms": retention_ms}),
        # Faust may not declare topics (topic_allow_declare=False): the sessionizer's table changelog.
        TopicSpec(registry_topic(settings.faust_app_id), settings.topic_partitions),
        # Compacted: a late reader still gets the latest figure of every key.
        TopicSpec(settings.topic_cdn_scores, settings.topic_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic_steering_decisions, 1, {"retention.ms": str(7 * 86_400_000)}),
    ]
    replication = settings.topic_replication_factor
    durability = {"min.insync.replicas": str(MIN_INSYNC_REPLICAS)} if replication >= MIN_INSYNC_FROM_REPLICATION else {}
    return [replace(spec, replication=replication, config={**spec.config, **durability}) for spec in specs]


def _admin(bootstrap: str, security: Mapping[str, Any] | None) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="qoe-admin", request_timeout_ms=10_000, **(security or {})
    )


def ensure_topics(bootstrap: str, specs: list[TopicSpec], *, security: Mapping[str, Any] | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    ``security``: kafka-python's TLS/SASL options, ``foundation.kafka_security.kafka_python_options``
    of the settings; without them the admin connects in plain text (the embedded broker).
    """
    admin = _admin(bootstrap, security)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                admin.create_topics([NewTopic(spec.name, spec.partitions, spec.replication, topic_configs=spec.config)])
        return [spec.name for spec in missing]
    finally:
        admin.close()


def cluster_id(bootstrap: str, *, security: Mapping[str, Any] | None = None) -> str:
    """The Kafka cluster id: names the log our stored offsets belong to (``security`` as for ensure_topics)."""
    admin = _admin(bootstrap, security)
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()
