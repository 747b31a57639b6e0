"""Erasure, end to end: beacons → gateway → Kafka (Tansu) → worker → chDB, then ``qoe erase --viewer X``.

Issue 12's acceptance: afterwards ``/v1/views``, ``/v1/events``, ``/v1/recommendations/X`` and
every table of the warehouse hold nothing of X, and Y's data is intact. One of X's views is still
open in the worker's memory when X is erased; it times out afterwards (at the next flush, which a
view of Y makes, and again at the worker's last flush) and must not be written back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.stack import LocalStack
from tests.factories.privacy import Viewing, beacon_of, install_model
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INACTIVITY_TIMEOUT_S = 30
X, Y = f"viewer-x-{uuid.uuid4().hex[:8]}", f"viewer-y-{uuid.uuid4().hex[:8]}"
X_VIEWS = [
    Viewing(X, f"{X}-finished", "ml-1"),
    Viewing(X, f"{X}-left", "ml-2", exit_reason="user_exit"),
    Viewing(X, f"{X}-open", "ml-3", exit_reason=None),
]
Y_VIEWS = [Viewing(Y, f"{Y}-finished", "ml-1"), Viewing(Y, f"{Y}-also", "ml-4")]
Y_LATE = Viewing(Y, f"{Y}-late", "ml-5")
X_TITLES = {v.title_id for v in X_VIEWS}

# Run with the worker stopped (chDB opens in one process): what is left of X and of Y, per table.
PROBE = """
import json, sys
from foundation.settings import Settings
from tests.factories.privacy import rows_holding, tables_with_id_columns
from warehouse.client import connect
client = connect(Settings())
x, y = json.loads(sys.argv[1]), json.loads(sys.argv[2])
found = {"x": rows_holding(client, x), "y": rows_holding(client, y)}
print(json.dumps({**found, "id_tables": sorted(tables_with_id_columns(client))}))
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    data = tmp_path / "qoe"
    install_model(data / "models" / "recommender")  # item-kNN over ml-1 … ml-24: X gets personal picks
    env = {"QOE_SESSIONIZER_INACTIVITY_TIMEOUT_S": str(INACTIVITY_TIMEOUT_S), "QOE_RECOMMENDER_FIRST_RETRAIN_S": "3600"}
    with LocalStack(data, env=env) as running:
        yield running


def sessionized(client: httpx.Client, viewing: Viewing) -> bool:
    answer = client.get(f"/v1/views/{viewing.view_id}")
    return answer.status_code == 200 and answer.json()["view"]["closed"] == (viewing.exit_reason is not None)


def event_count(viewing: Viewing) -> int:
    return 4 if viewing.exit_reason else 3  # request, start, heartbeat [, end]: what beacon_of posts


def has_events(client: httpx.Client, viewing: Viewing, count: int) -> bool:
    answer = client.get("/v1/events", params={"view_id": viewing.view_id})
    return answer.status_code == 200 and len(answer.json()["events"]) == count


def recommendations(client: httpx.Client, viewer: str) -> dict[str, Any]:
    answer = client.get(f"/v1/recommendations/{viewer}", params={"k": 5})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def because(body: dict[str, Any]) -> set[str]:
    return {item["because"]["title_id"] for item in body["items"] if item["reason_code"] == "because_you_watched"}


def erase(stack: LocalStack, viewer: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "qoe", "erase", "--viewer", viewer, "--requested-by", "acceptance", "--json"]
    done = subprocess.run(command, env=stack.env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert "erasing there" in done.stderr  # the worker holds the warehouse: the command asked it
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def probe(stack: LocalStack, x: list[str], y: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-c", PROBE, json.dumps(x), json.dumps(y)]
    done = subprocess.run(command, env=stack.env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_after_qoe_erase_nothing_of_the_viewer_is_left_and_others_are_intact(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=30) as client:
        for viewing in X_VIEWS + Y_VIEWS:
            answer = client.post("/v1/beacons", json=beacon_of(viewing, int(time.time() * 1000)))
            assert answer.status_code == 202, answer.text
        posted = time.monotonic()
        for viewing in X_VIEWS + Y_VIEWS:
            wait_for(partial(sessionized, client, viewing), 60, f"{viewing.view_id} in views")
            wait_for(partial(has_events, client, viewing, event_count(viewing)), 30, f"{viewing.view_id}'s raw events")

        mine = recommendations(client, X)  # before: X's history shows (the checks below can fail)
        assert mine["strategy"] == "personal" and because(mine) <= X_TITLES and because(mine)
        assert {item["title_id"] for item in mine["continue_watching"]} == {"ml-2", "ml-3"}

        report = erase(stack, X)
        # The open view was still open in the worker's memory when X was erased.
        assert time.monotonic() - posted < INACTIVITY_TIMEOUT_S, "too slow to erase before the open view timed out"
        assert report["rows_removed"]["beacon_events"] == 11 and report["rows_removed"]["views"] >= 3
        assert report["rows_removed"]["view_deltas"] > 0
        assert "not on views" in report["followups"]["recommender"]

        # Past the timeout, the next flush (Y's new view makes one) closes X's open view in memory.
        time.sleep(max(0.0, posted + INACTIVITY_TIMEOUT_S + 1 - time.monotonic()))
        assert client.post("/v1/beacons", json=beacon_of(Y_LATE, int(time.time() * 1000))).status_code == 202
        wait_for(lambda: sessionized(client, Y_LATE), 60, "Y's later view in views")
        for viewing in X_VIEWS:
            assert client.get(f"/v1/views/{viewing.view_id}").status_code == 404, viewing
            assert client.get("/v1/events", params={"view_id": viewing.view_id}).status_code == 404, viewing
        mine = recommendations(client, X)
        assert (because(mine), mine["continue_watching"], mine["context"]) == (set(), [], None)
        for viewing in [*Y_VIEWS, Y_LATE]:
            assert client.get(f"/v1/views/{viewing.view_id}").status_code == 200, viewing
            # The raw sink flushes apart from the sessionizer: the view row can land before its events.
            wait_for(partial(has_events, client, viewing, event_count(viewing)), 30, f"{viewing.view_id}'s events")
        assert recommendations(client, Y)["strategy"] == "personal"

    assert stack.worker is not None
    stack.worker.stop()  # its last flush runs too: still nothing of X may be written
    left = probe(stack, [X, *(v.view_id for v in X_VIEWS)], [v.view_id for v in [*Y_VIEWS, Y_LATE]])
    assert left["x"] == {}
    assert set(left["y"]) == {"beacon_events", "views", "view_deltas"}
    assert left["id_tables"] == ["beacon_events", "view_deltas", "views"]  # erasure covers every such table
