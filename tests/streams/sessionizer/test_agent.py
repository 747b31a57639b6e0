"""The Faust side of the sessionizer that runs without a broker: the registry queue and partitioning."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streams.sessionizer.agent import TableRegistry, partition_of


def test_registry_writes_a_few_updates_per_drain_and_skips_views_that_came_and_went() -> None:
    table: dict[bytes, object] = {}
    registry = TableRegistry(table)
    for i in range(5):
        registry.opened(f"v{i}", 0, 1000 + i)
    registry.closed("v4", 0)  # opened and closed before any drain: never written
    assert registry.drain(2) == 2 and set(table) == {b"v0", b"v1"}
    registry.closed("v0", 0)  # written: its entry must go
    assert registry.drain(10) == 3
    assert set(table) == {b"v1", b"v2", b"v3"}
    assert table[b"v2"] == {"partition": 0, "last_received_ms": 1002}
    assert registry.drain(10) == 0


def test_views_map_to_the_partition_kafka_gives_their_records() -> None:
    partitions = list(range(4))
    for view_id in ("a", "view-1", "bench-1234", "x" * 64):
        assert partition_of(view_id, 4) == DefaultPartitioner()(view_id.encode(), partitions, partitions)
