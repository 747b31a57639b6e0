"""Beacons over HTTP → ingest → Kafka (real Tansu) → Faust → ClickHouse (real chDB).

Counts are checked end to end, never by reading consumer lag (REFERENCE §8).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from foundation.stack import LocalStack
from tests.factories.beacons import beacon, beacons_for_views, event, playing_view_events
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration


def rows_settle_at(stack: LocalStack, expected: int, timeout_s: float = 30) -> dict[str, Any]:
    wait_for(
        lambda: int(stack.summary()["rows"]),
        timeout_s,
        f"{expected} rows",
        until=lambda rows: rows >= expected,
        tolerate=(httpx.HTTPError,),
    )
    time.sleep(1.5)  # anything beyond the expected count would be a duplicate: give it time to show
    return stack.summary()


def test_posted_events_arrive_with_the_same_count(stack: LocalStack) -> None:
    accepted = 0
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers) as client:
        for body in beacons_for_views(views=40, events_per_view=25):
            response = client.post("/v1/beacons", json=body)
            assert response.status_code == 202
            accepted += response.json()["accepted_events"]
    summary = rows_settle_at(stack, accepted)
    assert (summary["rows"], summary["distinct_events"], summary["views"]) == (accepted, accepted, 40)


def test_a_killed_worker_restarts_without_loss_or_duplicates(stack: LocalStack) -> None:
    accepted = 0
    stop = threading.Event()

    def post_continuously() -> None:
        nonlocal accepted
        with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers) as client:
            while not stop.is_set():
                response = client.post("/v1/beacons", json=beacon(playing_view_events(20)))
                assert response.status_code == 202
                accepted += 20

    poster = threading.Thread(target=post_continuously)
    poster.start()
    try:
        wait_for(lambda: stack.summary()["rows"] >= 2000, 30, "the worker to write its first rows")
        stack.kill_worker()
        time.sleep(1.0)  # beacons keep arriving in Kafka while no worker runs
        stack.start_worker()
        accepted_by_restart = accepted
        wait_for(lambda: stack.summary()["rows"] >= accepted_by_restart, 60, "the restarted worker to catch up")
    finally:
        stop.set()
        poster.join()
    summary = rows_settle_at(stack, accepted, timeout_s=60)
    assert summary["rows"] == summary["distinct_events"] == accepted
    # The kill landed between an insert and its offset commit, so the restart really replayed stored records.
    assert "replay: skipped" in (stack.logs / "worker.log").read_text()


def test_bad_input_gets_the_right_status_and_good_data_stays_intact(stack: LocalStack) -> None:
    good = [beacon(playing_view_events(10)) for _ in range(5)]
    big = beacon(playing_view_events(300), title="x" * 500)
    bad: list[tuple[str, bytes, int]] = [
        ("malformed JSON", b'{"version": 1, "events": [', 400),
        ("wrong type", orjson.dumps(beacon([event("playback_request", "noon", 0)])), 422),  # type: ignore[arg-type]
        ("unknown event type", orjson.dumps(beacon([event("rewind", 1, 0)])), 422),
        ("empty body", b"", 400),
        ("oversized", orjson.dumps(big) * 40, 413),
    ]
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers) as client:
        for body in good[:3]:
            assert client.post("/v1/beacons", json=body).status_code == 202
        for name, content, status in bad:
            response = client.post("/v1/beacons", content=content, headers={"content-type": "application/json"})
            assert response.status_code == status, name
            assert response.json()["detail"], name
        for body in good[3:]:
            assert client.post("/v1/beacons", json=body).status_code == 202
        summary = rows_settle_at(stack, 50)
        assert (summary["rows"], summary["distinct_events"], summary["views"]) == (50, 50, 5)

        stack.broker.stop()
        wait_for(lambda: client.get("/healthz").status_code == 503, 10, "healthz to report the outage")
        response = client.post("/v1/beacons", json=beacon(playing_view_events(10)))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
    assert stack.summary()["rows"] == 50
