"""Poison pills (issue 12): beacons at the schema's extremes through the real pipeline.

Gateway → Kafka (real Tansu) → the worker's agents → chDB. Every beacon is refused with a 4xx or
processed (202, then its view is visible or dead-lettered), and the worker stays live: a good
beacon posted after the batch reaches the Stats API within 5 s. The worker does not trust ingest:
a record with seq = 2^64 written straight to the topic is dead-lettered and does not block its
partition.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from foundation.stack import LocalStack
from schemas import DeadLetter
from streams.sessionizer.agent import partition_of
from tests.factories.beacons import beacon, event, playing_view_events
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

EPOCH_MAX_MS = 4_102_444_800_000  # the schema's last timestamp (2100-01-01)
CENTURY_MS = (100 * 365 + 24) * 86_400_000
INT_LIMITS = [0, 2**31 - 1, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**63 - 1, 2**64 - 1, 2**64]
LABELS = [
    "\U0001f3ac\U0001f600\U0001f1f3\U0001f1f4",  # emoji, a flag
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # Hebrew and Arabic (right to left)
    "\u202eevil\u202c",  # a right-to-left override
    "e\u0301\u0301\u0301\u0327",  # combining marks
    "nul\u0000byte",
    "\U0001f600" * 128,  # the longest label, in 4-byte characters
    "",
]
FRESH_S = 5.0  # the bound: a good beacon reaches the Stats API this soon after it is posted
_views = itertools.count()


# Each extreme beacon must get its own answer, not the 429 a burst of refusals earns one address.
NO_REFUSAL_LIMIT = {"QOE_RATE_LIMIT_REFUSED_BEACONS": "100000/second"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("poison") / "qoe", env=NO_REFUSAL_LIMIT) as running:
        yield running


def visible(client: httpx.Client, view_id: str) -> bool:
    response = client.get(f"/v1/views/{view_id}")
    # Never a server error; 429 is the gateway's rate limit on polling, not an answer.
    assert response.status_code in (200, 404, 429), response.text
    return response.status_code == 200


def dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        consumer.seek_to_beginning()
        return [DeadLetter.model_validate_json(r.value) for r in consumer]
    finally:
        consumer.close()


def from_worker(letters: list[DeadLetter], view_id: str) -> bool:
    """A worker's agent (not ingest, whose sources are paths) dead-lettered something of this view."""
    return any(not letter.source.startswith("/") and view_id in letter.body for letter in letters)


def unprocessed(client: httpx.Client, stack: LocalStack, views: list[str]) -> list[str]:
    """The views neither visible through the Stats API nor dead-lettered by the worker."""
    pending = [view for view in views if not visible(client, view)]
    if pending:
        letters = dead_letters(stack.broker.bootstrap, stack.settings.topic_dead_letter)
        pending = [view for view in pending if not from_worker(letters, view)]
    return pending


# --- extreme beacons -------------------------------------------------------------------------
def view_id() -> str:
    return f"pp-{next(_views)}"


def at_the_ends(ts: int, sent_at: int | None) -> dict[str, Any]:
    """A view that plays 1 s, its newest event at ``ts``."""
    body = beacon(playing_view_events(5, t0=max(0, ts - 1800)), view_id=view_id())
    if sent_at is not None:
        body["sent_at"] = sent_at
    return body


def at_a_limit(field: str, value: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    events = [
        *playing_view_events(3, t0=now - 3000),
        event("heartbeat", now - 1000, 3, dropped_frames=0, total_frames=0),
        event("request_completed", now - 500, 4, bytes=1000, duration_ms=100),
        event("player_resize", now - 400, 5, width=640, height=360),
    ]
    body = beacon(events, view_id=view_id())
    if field == "batch_seq":
        body["batch_seq"] = value
    elif field == "asn":
        body["context"]["asn"] = value
    else:
        target = next(e for e in events if field in e)
        target[field] = value
    return body


def with_gaps(count: int, gap_ms: int) -> dict[str, Any]:
    """``count`` events ``gap_ms`` apart (1 s without a gap, ending now), the last ones clamped to 2100."""
    step = gap_ms or 1000
    start = max(0, EPOCH_MAX_MS - step * (count - 1)) if gap_ms else int(time.time() * 1000) - count * step
    kinds = ["playback_request", "playback_start"] + ["heartbeat"] * (count - 2)
    events = [event(kind, min(start + i * step, EPOCH_MAX_MS), i) for i, kind in enumerate(kinds[:count])]
    return beacon(events, view_id=view_id())


def labelled(label: str) -> dict[str, Any]:
    now = int(time.time() * 1000)
    events = [
        *playing_view_events(3, t0=now - 3000),
        event("error", now - 900, 3, code=label, message=label, fatal=False),
        event("pathway_change", now - 800, 4, pathway=label),
    ]
    custom = {label: label} if label else {}
    return beacon(
        events,
        view_id=view_id(),
        title=label,
        title_id=label,
        player_name=label,
        cdn=label,
        region=label,
        custom=custom,
    )


EXTREMES = st.one_of(
    st.builds(at_the_ends, st.sampled_from([0, 1, EPOCH_MAX_MS]), st.sampled_from([None, 0, EPOCH_MAX_MS])),
    st.builds(
        at_a_limit,
        st.sampled_from(["seq", "playhead_ms", "batch_seq", "total_frames", "bytes", "width", "asn"]),
        st.sampled_from(INT_LIMITS),
    ),
    st.builds(with_gaps, st.sampled_from([2, 3, 300, 301]), st.sampled_from([0, CENTURY_MS])),
    st.builds(labelled, st.sampled_from(LABELS)),
)


def post(client: httpx.Client, body: dict[str, Any]) -> int:
    # The standard library encodes any integer (orjson stops at 64 bits) and keeps NUL escaped.
    content = json.dumps(body, ensure_ascii=False).encode()
    response = client.post("/v1/beacons", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 202 or 400 <= response.status_code < 500, (response.status_code, response.text)
    return response.status_code


def good_beacon_reaches_the_stats_api(client: httpx.Client, timeout_s: float) -> float:
    now = int(time.time() * 1000)
    body = beacon(playing_view_events(5, t0=now - 5000), view_id=view_id())
    assert post(client, body) == 202
    posted = time.monotonic()
    wait_for(lambda: visible(client, body["view_id"]), timeout_s, f"view {body['view_id']}", poll_s=0.05)
    return time.monotonic() - posted


# --- the tests -------------------------------------------------------------------------------
def test_extreme_beacons_are_refused_or_processed_and_the_worker_stays_live(stack: LocalStack) -> None:
    accepted: list[str] = []
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        good_beacon_reaches_the_stats_api(client, 90)  # the worker has its partitions

        @settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
        @given(EXTREMES)
        @example(at_the_ends(0, None))
        @example(at_the_ends(EPOCH_MAX_MS, EPOCH_MAX_MS))
        @example(at_a_limit("seq", 2**64))
        @example(at_a_limit("total_frames", 2**63 - 1))
        @example(with_gaps(300, 0))
        @example(with_gaps(2, CENTURY_MS))
        @example(labelled(LABELS[4]))
        def post_extreme(body: dict[str, Any]) -> None:
            if post(client, body) == 202:
                accepted.append(body["view_id"])

        post_extreme()
        took = good_beacon_reaches_the_stats_api(client, 60)
        assert took < FRESH_S, f"a good beacon took {took:.1f} s to reach the Stats API after the batch"
        check = functools.partial(unprocessed, client, stack, accepted)
        wait_for(
            check, 60, "every accepted beacon to be stored or dead-lettered", until=lambda left: not left, poll_s=1.0
        )


def on_partition(partition: int, partitions: int) -> str:
    """A new view id whose records land on ``partition``."""
    return next(v for v in iter(view_id, None) if partition_of(v, partitions) == partition)


def produce(stack: LocalStack, records: list[tuple[str, bytes | None]]) -> None:
    """Writes (view id, value) records straight to the beacons topic, keyed as ingest keys them."""
    producer = KafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all")
    try:
        for key, value in records:
            producer.send(stack.settings.topic_beacons, key=key.encode(), value=value)
        producer.flush()
    finally:
        producer.close()


def as_ingest_writes(body: dict[str, Any], received_at: int) -> bytes:
    server = {"received_at": received_at, "country": "NO"}
    return json.dumps({"server": server, "beacon": body}, separators=(",", ":")).encode()


def test_a_seq_of_2_64_past_ingest_is_dead_lettered_and_the_partition_moves_on(stack: LocalStack) -> None:
    partitions, now = stack.settings.topic_partitions, int(time.time() * 1000)
    bad = beacon(playing_view_events(3, t0=now - 3000), view_id=view_id())
    bad["events"][-1]["seq"] = 2**64
    good = beacon(
        playing_view_events(3, t0=now - 3000),
        view_id=on_partition(partition_of(bad["view_id"], partitions), partitions),
    )
    produce(stack, [(body["view_id"], as_ingest_writes(body, now)) for body in (bad, good)])  # the bad one first
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        wait_for(lambda: visible(client, good["view_id"]), 60, "the good record after the poison pill", poll_s=0.05)
    letters = dead_letters(stack.broker.bootstrap, stack.settings.topic_dead_letter)
    assert from_worker(letters, bad["view_id"]), [letter.source for letter in letters]


def test_records_past_ingest_at_the_extremes_do_not_stop_their_partition(stack: LocalStack) -> None:
    partitions, now = stack.settings.topic_partitions, int(time.time() * 1000)
    ids = [on_partition(0, partitions) for _ in range(4)]
    spread = EPOCH_MAX_MS // 299  # 300 events over the schema's whole range: 300 gaps of 5 months
    kinds = ["playback_request", "playback_start"] + ["heartbeat"] * 298
    across = beacon([event(kind, i * spread, i) for i, kind in enumerate(kinds)], view_id=ids[0])
    century = beacon([event("playback_request", 0, 0), event("playback_start", 1000, 1)], view_id=ids[1])
    century["events"].append(event("heartbeat", 1000 + CENTURY_MS, 2))
    good = beacon(playing_view_events(3, t0=now - 3000), view_id=ids[3])
    produce(
        stack,
        [
            (ids[0], as_ingest_writes(across, now)),
            (ids[1], as_ingest_writes(century, now)),
            (ids[2], None),  # a tombstone
            (ids[2], b"not json"),
            (ids[3], as_ingest_writes(good, now)),
        ],
    )
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
        wait_for(lambda: visible(client, ids[3]), 60, "the good record after the others", poll_s=0.05)
        check = functools.partial(unprocessed, client, stack, ids[:2])
        wait_for(check, 60, "the extreme views to be stored or dead-lettered", until=lambda left: not left, poll_s=1.0)
