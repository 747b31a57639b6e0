"""Delivery's Kafka topics, created with the platform's (``streams.topics.platform_topics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from delivery.options import DeliveryOptions

if TYPE_CHECKING:
    from streams.topics import TopicSpec


def delivery_topics(settings: Any, options: DeliveryOptions | None = None) -> list[TopicSpec]:
    """``cdn-scores`` is compacted: a late reader still gets the latest figure of every key."""
    from streams.topics import TopicSpec

    options = options or DeliveryOptions.from_settings(settings)
    return [
        TopicSpec(options.topic_cdn_scores, settings.topic_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(options.topic_steering_decisions, 1, {"retention.ms": str(7 * 86_400_000)}),
    ]
