"""The Python SDK (its own distribution, player-sdk/python) held to the server's models.

The SDK installs without the server: it reads the beacon contract from the JSON Schema it bundles,
and its own tests (player-sdk/python/tests, run by ``make sdk-test`` in a venv without the server)
validate its payloads against that copy. Here the server checks the other side: the copy is what
``schemas`` generates now, what the SDK reads from it agrees with the pydantic models, the SDK keeps
a context field exactly when ``schemas.Context`` accepts it, and every payload the SDK builds, in
memory or on the wire, is a ``schemas.Beacon``.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import tomllib
from collections.abc import Callable
from importlib.resources import files
from typing import Any, get_args

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import ValidationError
from qoe_sdk import AsyncSender, BatchConfig, HttpxPoster, MemorySink, Reporter, ViewerIdentity, contract

from schemas import MAX_EVENTS_PER_BEACON, SCHEMA_VERSION, Beacon, Context, EventType
from schemas.beacon import RequestKind, ViewEndReason
from schemas.jsonschema import SDK_SCHEMA_PATH, render
from tests.factories.deploy import REPO
from tests.factories.sim import FakeTime, validate_all

CONTEXT_FIELDS = sorted(Context.model_fields)


def test_the_sdk_bundles_the_schema_the_models_generate() -> None:
    bundled = files("qoe_sdk").joinpath(contract.SCHEMA_FILE).read_bytes()
    assert bundled == SDK_SCHEMA_PATH.read_bytes()
    assert bundled == render(), "run `python -m schemas.jsonschema` and commit both copies"


def test_what_the_sdk_reads_from_the_schema_agrees_with_the_models() -> None:
    assert contract.SCHEMA_VERSION == SCHEMA_VERSION
    assert contract.MAX_EVENTS_PER_BEACON == MAX_EVENTS_PER_BEACON == BatchConfig().max_events_per_beacon
    assert {t.value for t in EventType} == contract.EVENT_TYPES
    assert contract.choices("view_end", "reason") == set(get_args(ViewEndReason))
    assert contract.choices("request_completed", "kind") == contract.choices("request_failed", "kind")
    assert contract.choices("request_completed", "kind") == set(get_args(RequestKind))
    assert set(contract.CONTEXT.fields) == set(CONTEXT_FIELDS)


def test_the_sdk_pins_its_dependencies_at_the_versions_of_the_lock() -> None:
    """`make sdk-test` installs the SDK with the lock as constraints: a pin that disagrees fails there."""
    project = tomllib.loads((REPO / "player-sdk/python/pyproject.toml").read_text())["project"]
    assert project["name"] == "qoe-sdk" and project["version"] == "0.1.0"
    lock = dict(line.split("==", 1) for line in (REPO / "requirements.lock").read_text().split() if "==" in line)
    lock = {canonicalize_name(name): version for name, version in lock.items()}
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    runtime = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    assert runtime == {"httpx", "orjson"}, "the SDK's runtime dependencies are httpx and orjson only"
    for text in declared:
        requirement = Requirement(text)
        [spec] = requirement.specifier
        assert spec.operator == "==", f"{text}: pin it exactly"
        assert lock.get(canonicalize_name(requirement.name)) == spec.version, f"{text}: requirements.lock disagrees"


def _server_reads(fields: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """What the server keeps of a context, and the fields it refuses (the SDK's pre-split rule)."""
    refused: set[str] = set()
    for _ in range(len(fields) + 1):
        try:
            return Context.model_validate(fields).model_dump(exclude_defaults=True), refused
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            refused |= bad
            fields = {key: value for key, value in fields.items() if key not in bad}
    raise AssertionError("the context never validated")


# Values of the types a player passes (text, whole numbers, None, floats, flat string maps), with
# text at and around every length limit of the context (128, 512, 2048).
def _long(lengths: list[int]) -> st.SearchStrategy[str]:
    return st.builds(lambda n, c: c * n, st.sampled_from(lengths), st.sampled_from(["x", "é", " "]))


labels = st.one_of(
    st.text(max_size=3),
    st.sampled_from(["NO", "no", "NOR", "vod", "live", "tv", " 12 ", "12.0", "1_000", "+7", "4294967296"]),
    _long([127, 128, 129, 511, 512, 513, 2047, 2048, 2049]),
)
values = st.one_of(
    labels,
    st.integers(min_value=-2, max_value=2**33),
    st.none(),
    st.booleans(),
    st.floats(),
    st.dictionaries(st.one_of(st.text(max_size=3), _long([128, 129])), st.one_of(labels, st.integers()), max_size=12),
)
contexts = st.dictionaries(st.sampled_from([*CONTEXT_FIELDS, "colour"]), values, max_size=6)


# Every field gets each of these: each kind of value, at and around each limit, and the text forms
# of integers the server's models accept or refuse.
EDGES: list[Any] = [
    *("", "x", "NO", "no", "NOR", "NO\n", "vod", "live", "VOD", "tv-app"),
    *("x" * n for n in (127, 128, 129, 511, 512, 513, 2047, 2048, 2049)),
    *("12", " 12 ", "+12", "-1", "007", "1_000", "1__0", "12.0", "12.000", "12.", "12.5", "1e3", "0x10", "١٢"),
    *("4294967295", "4294967296", "\u300012", "\x1c12"),
    *(0, -1, 1, 2119, 4_294_967_295, 4_294_967_296, True, False, None),
    *(0.0, 2119.0, 2119.5, -1.0, float("inf"), float("nan")),
    *([], {}, {"a": "b"}, {"a": 1}, {"a": None}, {"k" * 128: "v" * 128}, {"k" * 129: "v"}, {"k": "v" * 129}),
    {str(i): "v" for i in range(10)},
    {str(i): "v" for i in range(11)},
]


def test_the_sdk_keeps_each_context_field_exactly_when_the_server_accepts_it() -> None:
    disagreements = []
    for field in [*CONTEXT_FIELDS, "colour"]:
        for value in EDGES:
            sdk = contract.CONTEXT.clean({field: value})
            kept, refused = _server_reads({field: value})
            if (sdk[0], set(sdk[1])) != (kept, refused) or [type(v) for v in sdk[0].values()] != [
                type(v) for v in kept.values()
            ]:
                disagreements.append(f"{field}={value!r:.40}: sdk {sdk[0]} / {set(sdk[1])}, server {kept} / {refused}")
    assert not disagreements, "\n".join(disagreements)


@settings(max_examples=600, deadline=None)
@given(contexts)
def test_the_sdk_keeps_context_fields_exactly_when_the_server_accepts_them(fields: dict[str, Any]) -> None:
    kept, refused = contract.CONTEXT.clean(fields)
    expected, expected_refused = _server_reads(fields)
    assert set(refused) == expected_refused
    assert kept == expected
    assert {k: type(v) for k, v in kept.items()} == {k: type(v) for k, v in expected.items()}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(CONTEXT_FIELDS), st.from_type(object), max_size=4))
def test_whatever_the_sdk_keeps_the_server_accepts(fields: dict[str, Any]) -> None:
    kept, _ = contract.CONTEXT.clean(fields)
    assert Context.model_validate(kept).model_dump(exclude_defaults=True) == kept


def _run_every_event_type(reporter: Reporter, tick: Callable[[], None]) -> None:
    tracker = reporter.tracker(
        ViewerIdentity("viewer-1", 0.25),
        context={"stream_type": "live", "country": "norway", "player_name": "tv", "asn": "2119"},
    )
    view = tracker.start_view(autoplay=True, title_id="ml-1", title="Toy Story (1995)", cdn="cdn-a")
    calls: list[Callable[[], None]] = [
        lambda: view.resize(1280, 720),
        lambda: view.rendition_change(2500.5, width=1280, height=720, framerate=29.97, codec="c" * 500, quality=93),
        lambda: view.rendition_change(0),
        lambda: view.request_completed(250_000, 180.4, ttfb_ms=40.2, cdn="b" * 500, kind="segment"),
        lambda: view.request_completed(100, 10, status=42),
        lambda: view.request_failed(503, cdn="cdn-b"),
        lambda: view.request_failed(status=700),
        lambda: view.first_frame(playhead_ms=0),
        lambda: view.heartbeat(dropped_frames=3, total_frames=300, buffer_ms=12_000, playhead_ms=10_000),
        lambda: view.stall_start(0, playhead_ms=12_000),
        lambda: view.stall_end(playhead_ms=12_000),
        lambda: view.pause(playhead_ms=13_000),
        lambda: view.resume(playhead_ms=13_000),
        lambda: view.seek_start(60_000, playhead_ms=13_000),
        lambda: view.seek_end(playhead_ms=60_000),
        lambda: view.pathway_change("p" * 500),
        lambda: view.ad_break_start(),
        lambda: view.ad_break_end(),
        lambda: view.error("E" * 500, "x" * 5000, fatal=False),
        lambda: view.ended(playhead_ms=90_000),
        lambda: view.end("because"),
    ]
    for call in calls:
        tick()
        call()


def test_every_payload_the_sdk_builds_is_a_valid_beacon() -> None:
    time = FakeTime()
    sink = MemorySink(time.clock)
    reporter = Reporter(sink, clock=time.clock)
    _run_every_event_type(reporter, lambda: time.advance(250))
    beacons = validate_all(sink.payloads)
    assert {e.type for b in beacons for e in b.events} == set(EventType)
    assert all(b.version == SCHEMA_VERSION for b in beacons)
    context = beacons[0].context
    assert context.player_name == "tv" and context.country == "" and context.asn == 2119
    assert context.stream_type == "live" and context.title_id == "ml-1"
    assert beacons[-1].events[-1].reason == "user_exit"  # type: ignore[union-attr]
    assert reporter.stats.events_invalid == 4 and reporter.stats.context_fields_dropped == 1


async def test_bodies_on_the_wire_parse_as_beacons_gzipped_or_not() -> None:
    received: list[Beacon] = []
    encodings: list[str | None] = []

    def ingest(request: httpx.Request) -> httpx.Response:
        body = request.content
        encodings.append(request.headers.get("content-encoding"))
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        beacon = Beacon.model_validate_json(body)
        received.append(beacon)
        return httpx.Response(202, json={"accepted_events": len(beacon.events)})

    time = FakeTime()
    poster = HttpxPoster(transport=httpx.MockTransport(ingest))
    sender = AsyncSender(
        "http://ingest.test", poster=poster, clock=time.clock, rng=random.Random(1), gzip_min_bytes=2_000
    )
    async with sender:
        _run_every_event_type(Reporter(sender, clock=time.clock), lambda: time.advance(250))
        assert await sender.drain(5)
    await asyncio.sleep(0)
    assert {e.type for b in received for e in b.events} == set(EventType)
    assert None in encodings and "gzip" in encodings
    assert sender.stats.beacons_rejected == 0 and sender.stats.internal_errors == 0
