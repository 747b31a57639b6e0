"""foundation/topics.py: the platform's topics and their durability settings."""

from __future__ import annotations

import pytest

from foundation.settings import Settings
from foundation.topics import platform_topics


@pytest.mark.parametrize("replication", [1, 2])
def test_small_clusters_get_no_min_insync_replicas(replication: int) -> None:
    """With fewer than three replicas, min.insync.replicas=2 would refuse writes after one broker loss
    (or always, with one replica: Tansu in memory)."""
    specs = platform_topics(Settings(_env_file=None, topic_replication_factor=replication))
    assert specs
    for spec in specs:
        assert spec.replication == replication
        assert "min.insync.replicas" not in spec.config, spec.name


@pytest.mark.parametrize("replication", [3, 5])
def test_replicated_topics_need_two_in_sync_replicas_and_keep_their_own_config(replication: int) -> None:
    plain = {spec.name: spec for spec in platform_topics(Settings(_env_file=None))}
    durable = platform_topics(Settings(_env_file=None, topic_replication_factor=replication))
    assert [spec.name for spec in durable] == list(plain)
    for spec in durable:
        assert spec.replication == replication
        assert spec.config == {**plain[spec.name].config, "min.insync.replicas": "2"}, spec.name
        assert spec.partitions == plain[spec.name].partitions
    assert {s.name: s.config.get("cleanup.policy") for s in durable}[Settings(_env_file=None).topic_cdn_scores] == (
        "compact"
    )
