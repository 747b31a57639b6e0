"""Schemathesis against the gateway's and the warehouse API's OpenAPI, on the real embedded stack.

Issue 12's acceptance: with valid tokens, no answer is a server error (5xx) and every answer is
one the schema documents (status code, content type, body, headers), while invalid input is
refused with a 4xx; good data posted in the same run is intact afterwards. The warehouse API's
routes are fuzzed where it serves them and again through the gateway, which forwards them.

Deterministic: Hypothesis is derandomized and Schemathesis seeded, so a run repeats the requests
of the last one. The number of fuzzed cases per operation is bounded to keep the whole module
within about three minutes on two cores.

Admin routes (tag ``admin``), with the stack's admin token: the erasure and the token routes are
fuzzed. Erasing a viewer id the fuzzer made up removes nothing (the known viewers' ids end in a
suffix no generator reaches, and the last test would see them gone); a made-up token is created
or an unknown id revoked, never the admin token the run uses (16 hex digits no generator draws).
Starting a training is not fuzzed: each one trains a model in the worker for as long as the
views allow, which would slow every other answer of the run and say nothing about the route's
input handling that ``tests/recommender/test_api.py`` does not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.schemas import BaseSchema

from foundation.stack import LocalStack
from tests.factories.privacy import Viewing, beacon_of
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

SEED = 12
EXAMPLES = 20  # fuzzed cases per operation, valid and invalid mixed, besides the coverage phase's own
FORWARDED_EXAMPLES = 10  # the same routes again, through the gateway: its proxy is what is new there
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "unsupported_method",
)
# The fuzzer's bad input must reach the routes, not the rate limiter's 429 (documented, but it
# would stand in for every answer after the first few refusals).
UNLIMITED = {
    "QOE_RATE_LIMIT_BEACONS": "1000000/second",
    "QOE_RATE_LIMIT_REFUSED_BEACONS": "1000000/second",
    "QOE_RATE_LIMIT_PLAYERS": "1000000/second",
    "QOE_RATE_LIMIT_API": "1000000/second",
    "QOE_RATE_LIMIT_PER_TOKEN": "1000000/second",
}
RUN = "4c1e9a7b"  # no generator reaches ids with this suffix; each run has a warehouse of its own
KNOWN = [
    Viewing(f"fuzz-viewer-{n % 3}-{RUN}", f"fuzz-view-{n}-{RUN}", f"ml-{n + 1}", exit_reason=reason)
    for n, reason in enumerate(["ended", "user_exit", "ended", "error", "ended", "user_exit"])
]
EVENTS_PER_VIEW = 4  # request, start, heartbeat, end: what beacon_of posts for a closed view

# CMCD reports are text, one record per line: sent as the text they are.
schemathesis.serializer.alias("application/cmcd", "text/plain")


def auth_headers(stack: LocalStack) -> dict[str, str]:
    """A valid token for every route, admin ones included: the stack's admin token."""
    return dict(stack.auth_headers)


NOT_HTTP = "Invalid HTTP request received."  # uvicorn's own answer, before any application code


def fuzz_config(base_url: str, examples: int = EXAMPLES) -> schemathesis.Config:
    checks: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "request-timeout": 30,
            "suppress-health-check": ["all"],  # HTTP round trips are slow by Hypothesis' standards, on purpose
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,  # a failure is reported as found: shrinking would cost unbounded requests
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": checks,
        }
    )


def stored(client: httpx.Client, viewing: Viewing) -> dict[str, Any] | None:
    """The view and its raw events once both are in the warehouse, else None."""
    view = client.get(f"/v1/views/{viewing.view_id}")
    events = client.get("/v1/events", params={"view_id": viewing.view_id})
    if view.status_code != 200 or events.status_code != 200:
        return None
    found = {"view": view.json(), "raw_events": events.json()["events"]}
    complete = len(found["raw_events"]) == EVENTS_PER_VIEW and found["view"]["view"]["closed"]
    return found if complete else None


def is_stored(client: httpx.Client, viewing: Viewing) -> bool:
    return stored(client, viewing) is not None


def post_known(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Posts the known viewings and returns what the warehouse stored of each."""
    for viewing in KNOWN:
        answer = client.post("/v1/beacons", json=beacon_of(viewing, int(time.time() * 1000)))
        assert answer.status_code == 202, answer.text
    for viewing in KNOWN:
        wait_for(partial(is_stored, client, viewing), 90, f"{viewing.view_id} in views and events")
    return {viewing.view_id: stored(client, viewing) or {} for viewing in KNOWN}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("fuzz") / "qoe", env=UNLIMITED) as running:
        yield running


@pytest.fixture(scope="module")
def known(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """The good data, posted before any fuzzing: what the warehouse held of each known view then."""
    with httpx.Client(base_url=stack.gateway, headers=auth_headers(stack), timeout=30) as client:
        return post_known(client)


@pytest.fixture(scope="module")
def gateway_schema(stack: LocalStack, known: dict[str, dict[str, Any]]) -> BaseSchema:
    url = f"{stack.gateway}/openapi.json"
    return schemathesis.openapi.from_url(url, config=fuzz_config(stack.gateway), headers=auth_headers(stack))


@pytest.fixture(scope="module")
def warehouse_schema(stack: LocalStack, known: dict[str, dict[str, Any]]) -> BaseSchema:
    url = f"{stack.internal_api}/openapi.json"
    return schemathesis.openapi.from_url(url, config=fuzz_config(stack.internal_api), headers=auth_headers(stack))


@pytest.fixture(scope="module")
def forwarded_schema(stack: LocalStack, known: dict[str, dict[str, Any]]) -> BaseSchema:
    """The warehouse API's routes as clients reach them: through the gateway, which forwards them."""
    url = f"{stack.internal_api}/openapi.json"
    config = fuzz_config(stack.gateway, FORWARDED_EXAMPLES)
    return schemathesis.openapi.from_url(url, config=config, headers=auth_headers(stack))


TRAINING = "/v1/recommender/training"  # POST is not fuzzed: see the module's docstring


def fuzz(schema: BaseSchema, headers: dict[str, str]) -> list[str]:
    """Runs each operation's examples, coverage and fuzzing phases, as Schemathesis' pytest plugin
    does; returns what they found, one entry per operation that failed a check.

    The plugin's lazy schemas cannot run on pytest 9 (they rename the test's ``_nodeid``, which
    pytest 9 no longer has), so the operations' tests are run here, one after the other.
    """

    def call(case: Case[Any]) -> None:
        response = case.call(headers=headers)
        if response.status_code == 400 and response.text == NOT_HTTP:
            return  # the HTTP server refused bytes that are not an HTTP request (a header name with ";"): no API ran
        case.validate_response(response)

    failures = []
    for result in get_all_tests(schema=schema, test_func=call, settings=None, given_kwargs=None):
        if isinstance(result, Err):
            failures.append(f"{result.err().label}: the schema cannot be tested: {result.err()}")
            continue
        operation, test = result.ok()
        try:
            test()
        except (FailureGroup, Exception) as exc:  # what the checks found, or any error on the way
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_gateway_api(gateway_schema: BaseSchema, stack: LocalStack) -> None:
    failures = fuzz(gateway_schema, auth_headers(stack))
    assert not failures, "\n\n".join(failures)


def test_warehouse_api(warehouse_schema: BaseSchema, stack: LocalStack) -> None:
    failures = fuzz(warehouse_schema.exclude(method="POST", path=TRAINING), auth_headers(stack))
    assert not failures, "\n\n".join(failures)


def test_warehouse_api_through_the_gateway(forwarded_schema: BaseSchema, stack: LocalStack) -> None:
    failures = fuzz(forwarded_schema.exclude(method="POST", path=TRAINING), auth_headers(stack))
    assert not failures, "\n\n".join(failures)


def test_good_data_posted_before_the_fuzzing_is_intact(
    stack: LocalStack, known: dict[str, dict[str, Any]], warehouse_schema: BaseSchema
) -> None:
    """Runs last (pytest keeps a module's order): every known view and its events as stored before."""
    view_operation = warehouse_schema["/v1/views/{view_id}"]["GET"]
    with httpx.Client(base_url=stack.gateway, headers=auth_headers(stack), timeout=30) as client:
        for viewing in KNOWN:
            now = stored(client, viewing)
            assert now is not None, f"{viewing.view_id} lost its view or some of its {EVENTS_PER_VIEW} events"
            assert now == known[viewing.view_id], viewing.view_id
            # The fuzzer never finds a stored view: its 200 is checked against the schema here.
            view_operation.validate_response(client.get(f"/v1/views/{viewing.view_id}"))
