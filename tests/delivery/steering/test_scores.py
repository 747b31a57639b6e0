from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from delivery.steering.scores import ScoreBoard
from schemas.steering import GLOBAL, CdnScore, Group, ScoreDecodeError, device_class
from tests.factories.delivery import NO_MOBILE_LIVE, T0, board, later, score


def test_group_key_round_trips_with_wildcards() -> None:
    for group in (NO_MOBILE_LIVE, Group("NO"), GLOBAL, Group("eu-west", None, "tv", "vod")):
        assert Group.from_key(group.key) == group
    assert NO_MOBILE_LIVE.key == "NO/2119/mobile/live"
    assert GLOBAL.key == "*/*/*/*"


@pytest.mark.parametrize("key", ["NO/2119/mobile", "NO/x/mobile/live", "no-such/1/2/3/4", "NO/1/mobile/radio"])
def test_malformed_group_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        Group.from_key(key)


def test_backoff_chain_drops_asn_then_device_then_stream_type_then_country() -> None:
    assert [g.key for g in NO_MOBILE_LIVE.backoff_chain()] == [
        "NO/2119/mobile/live",
        "NO/*/mobile/live",
        "NO/*/*/live",
        "NO/*/*/*",
        "*/*/*/*",
    ]
    assert Group("NO").backoff_chain() == (Group("NO"), GLOBAL)  # repeated levels collapse
    assert GLOBAL.backoff_chain() == (GLOBAL,)


def test_score_json_round_trip_and_kafka_key() -> None:
    record = score("cdn-a", 81.25, views=1234, window_end=datetime(2026, 9, 21, 20, 0, 30, 500_000, tzinfo=UTC))
    decoded = CdnScore.from_json(record.to_json())
    assert decoded == record
    assert record.kafka_key == b"cdn-a|NO/2119/mobile/live"
    assert len(record.to_json()) < 200  # compact: republished for every CDN × group every window


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"v": 2}',
        b'{"v": 1, "cdn": "a"}',
        b'{"v":1,"cdn":"a","g":"*/*/*/*","n":true,"rr":0,"vst":1,"fr":0,"br":1,"q":50,"t":0,"w":60}',
        b'{"v":1,"cdn":"a","g":"*/*/*/*","n":5,"rr":2.0,"vst":1,"fr":0,"br":1,"q":50,"t":0,"w":60}',
        b'{"v":1,"cdn":"a","g":"*/*/*/*","n":5,"rr":0,"vst":1,"fr":0,"br":1,"q":150,"t":0,"w":60}',
        b'{"v":1,"cdn":"a","g":"*/*/*","n":5,"rr":0,"vst":1,"fr":0,"br":1,"q":50,"t":0,"w":60}',
        b'{"v":1,"cdn":"a","g":"*/*/*/*","n":5,"rr":0,"vst":1,"fr":0,"br":1,"q":50,"t":1e30,"w":60}',
    ],
)
def test_bad_records_raise_a_decode_error(payload: bytes) -> None:
    with pytest.raises(ScoreDecodeError):
        CdnScore.from_json(payload)


def test_score_validation() -> None:
    with pytest.raises(ValueError, match="UTC"):
        score("cdn-a", 80, window_end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="views"):
        score("cdn-a", 80, views=-1)
    with pytest.raises(ValueError, match="qoe_score"):
        score("cdn-a", float("nan"))


def test_staleness_is_age_of_window_end_versus_max_age() -> None:
    record = score("cdn-a", 80, window_end=T0)
    assert record.age_s(later(90)) == 90
    assert not record.is_stale(later(90), max_age_s=120)
    assert record.is_stale(later(121), max_age_s=120)


def test_board_keeps_the_newest_window_per_key() -> None:
    scores = board()
    assert scores.put(score("cdn-a", 70, window_end=later(60)))
    assert not scores.put(score("cdn-a", 90, window_end=T0))  # an older window arriving late
    assert scores.get("cdn-a", NO_MOBILE_LIVE).qoe_score == 70  # type: ignore[union-attr]
    assert len(scores) == 1


def test_lookup_backs_off_to_coarser_groups_when_samples_are_few() -> None:
    scores = board(
        score("cdn-a", 60, views=5),  # exact group: too few views
        score("cdn-a", 70, group=Group("NO", None, "mobile", "live"), views=12),  # still too few
        score("cdn-a", 75, group=Group("NO", None, "", "live"), views=400),
        score("cdn-a", 99, group=GLOBAL, views=10_000),
    )
    found = scores.lookup("cdn-a", NO_MOBILE_LIVE, T0)
    assert found is not None
    assert found.score.qoe_score == 75 and found.level == 2 and found.backed_off
    exact = scores.lookup("cdn-a", NO_MOBILE_LIVE, T0, min_views=5)
    assert exact is not None and exact.level == 0


def test_lookup_skips_stale_levels_and_answers_none_without_data() -> None:
    scores = board(
        score("cdn-a", 60, window_end=T0 - timedelta(minutes=10)),
        score("cdn-a", 80, group=GLOBAL, window_end=T0),
    )
    found = scores.lookup("cdn-a", NO_MOBILE_LIVE, T0)
    assert found is not None and found.score.group == GLOBAL
    assert scores.has_stale("cdn-a", NO_MOBILE_LIVE, T0)
    assert scores.lookup("cdn-b", NO_MOBILE_LIVE, T0) is None
    assert not scores.has_stale("cdn-b", NO_MOBILE_LIVE, T0)


def test_ingest_decodes_counts_rejects_and_honours_tombstones() -> None:
    scores = ScoreBoard()
    record = score("cdn-a", 80)
    assert scores.ingest(record.kafka_key, record.to_json())
    assert scores.get("cdn-a", NO_MOBILE_LIVE) == record
    assert not scores.ingest(b"x|y", b"{broken")
    assert scores.rejected == 1
    scores.ingest(record.kafka_key, None)  # tombstone
    assert scores.get("cdn-a", NO_MOBILE_LIVE) is None
    scores.ingest(b"cdn-a|not-a-group", None)
    assert scores.rejected == 2


def test_global_shares_count_fresh_global_views_only() -> None:
    scores = board(
        score("cdn-a", 80, group=GLOBAL, views=300),
        score("cdn-b", 80, group=GLOBAL, views=100),
        score("cdn-c", 80, group=GLOBAL, views=600, window_end=T0 - timedelta(hours=1)),
    )
    assert scores.global_shares(["cdn-a", "cdn-b", "cdn-c"], T0) == {"cdn-a": 0.75, "cdn-b": 0.25, "cdn-c": 0.0}


def test_device_class_maps_aliases_and_drops_unknown_labels() -> None:
    assert device_class(" Phone ") == "mobile"
    assert device_class("tv") == "tv"
    assert device_class("toaster") == ""


def test_encoding_uses_short_flat_keys() -> None:
    decoded = orjson.loads(score("cdn-a", 80).to_json())
    assert set(decoded) == {"v", "cdn", "g", "n", "rr", "vst", "fr", "br", "q", "t", "w"}
