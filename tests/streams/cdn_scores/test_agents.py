from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from delivery.steering.service import DecisionRecord
from schemas.steering import GLOBAL
from streams.cdn_scores.agents import ScorePublisher, decision_row
from tests.factories.delivery import NO_MOBILE_LIVE, score
from warehouse.steering import DECISION_COLUMNS


def test_publisher_sends_every_figure_and_tombstones_keys_that_lost_theirs() -> None:
    publisher = ScorePublisher()
    first = publisher.records([score("cdn-a", 80), score("cdn-b", 70, group=GLOBAL)])
    assert [key for key, _ in first] == [b"cdn-a|NO/2119/mobile/live", b"cdn-b|*/*/*/*"]
    assert all(value is not None for _, value in first)
    second = publisher.records([score("cdn-a", 81)])
    assert second[0][0] == b"cdn-a|NO/2119/mobile/live" and second[0][1] is not None
    assert second[1:] == [(b"cdn-b|*/*/*/*", None)]  # a tombstone: the board forgets the key
    assert publisher.records([score("cdn-a", 82)])[1:] == []  # tombstoned once only


def test_a_decision_record_becomes_a_table_row() -> None:
    record = DecisionRecord(
        decided_at=datetime(2026, 9, 21, 20, 0, tzinfo=UTC),
        instance="gw-1",
        config_id="abc",
        group=NO_MOBILE_LIVE,
        version=4,
        previous_priority=("cdn-a", "cdn-b"),
        priority=("cdn-b", "cdn-a"),
        reason_code="degraded",
        reason_text="cdn-a slowed down",
        figures={"cdn-b": {"qoe": 80.0, "adjusted": 80.0, "views": 100, "level": 1}},
    )
    row = decision_row(orjson.dumps(record.to_row()))
    assert len(row) == len(DECISION_COLUMNS)
    values = dict(zip(DECISION_COLUMNS, row, strict=True))
    assert values["decided_at"] == record.decided_at and values["version"] == 4
    assert values["from_pathway"] == "cdn-a" and values["to_pathway"] == "cdn-b"
    assert values["figure_views"] == [100] and values["figure_level"] == [1]


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[]", orjson.dumps({"decided_at": "2026-09-21T20:00:00+00:00"}),
     orjson.dumps({c: "x" for c in DECISION_COLUMNS})],
)  # fmt: skip
def test_unreadable_decision_records_are_refused(value: bytes) -> None:
    with pytest.raises(ValueError, match="steering decision"):
        decision_row(value)


def test_a_decision_time_without_offset_is_refused() -> None:
    row: dict[str, Any] = {c: [] for c in DECISION_COLUMNS} | {"decided_at": "2026-09-21T20:00:00"}
    with pytest.raises(ValueError, match="UTC offset"):
        decision_row(orjson.dumps(row))
