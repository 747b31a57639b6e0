"""The SDK reads the beacon contract from the JSON Schema it ships, and agrees with that schema."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
import qoe_sdk
from jsonschema import Draft202012Validator
from qoe_sdk import SDK_VERSION, BatchConfig, MemorySink, Reporter, ViewerIdentity
from qoe_sdk import contract as sdk_contract
from sdk_fakes import BEACON_SCHEMA, EVENT_TYPES, FakeTime, validate_all

CONTEXT_VALIDATOR = Draft202012Validator(BEACON_SCHEMA["$defs"]["Context"])
ID_VALIDATOR = Draft202012Validator(BEACON_SCHEMA["properties"]["viewer_id"])
PROPERTY_KEY_VALIDATOR = Draft202012Validator(BEACON_SCHEMA["properties"]["property_key"])

# Values of every kind and around every limit of the context fields (none that the SDK coerces,
# nor a trailing newline: those are tested below).
CANDIDATES: list[Any] = [
    "",
    "x",
    "tv-app",
    "x" * 128,
    "x" * 129,
    "x" * 512,
    "x" * 513,
    "x" * 2048,
    "x" * 2049,
    "NO",
    "no",
    "NOR",
    "vod",
    "live",
    0,
    -1,
    2119,
    4_294_967_295,
    4_294_967_296,
    None,
    1.5,
    [],
    {},
    {"a": "b"},
    {"a": 1},
    {"k" * 128: "v" * 128},
    {"k" * 129: "v"},
    {"k": "v" * 129},
    {str(i): "v" for i in range(10)},
    {str(i): "v" for i in range(11)},
]


def test_the_installed_package_ships_the_schema_it_reads() -> None:
    assert sdk_contract.SCHEMA == BEACON_SCHEMA
    assert sdk_contract.SCHEMA_VERSION == BEACON_SCHEMA["properties"]["version"]["const"] == qoe_sdk.SCHEMA_VERSION
    events = BEACON_SCHEMA["properties"]["events"]
    assert sdk_contract.MAX_EVENTS_PER_BEACON == events["maxItems"] == BatchConfig().max_events_per_beacon
    assert EVENT_TYPES == sdk_contract.EVENT_TYPES
    assert version("qoe-sdk") == SDK_VERSION


def test_batch_config_refuses_more_events_per_beacon_than_the_schema_allows() -> None:
    with pytest.raises(ValueError, match="max_events_per_beacon"):
        BatchConfig(max_events_per_beacon=sdk_contract.MAX_EVENTS_PER_BEACON + 1)


@pytest.mark.parametrize("field", sorted(BEACON_SCHEMA["$defs"]["Context"]["properties"]))
@pytest.mark.parametrize("value", CANDIDATES, ids=lambda v: repr(v)[:24])
def test_the_sdk_keeps_a_context_field_exactly_when_the_schema_accepts_it(field: str, value: Any) -> None:
    kept, refused = sdk_contract.CONTEXT.clean({field: value})
    schema_accepts = CONTEXT_VALIDATOR.is_valid({field: value})
    assert (field not in refused) == schema_accepts
    assert CONTEXT_VALIDATOR.is_valid(kept)
    if schema_accepts and field not in kept:  # left out only when it is the field's default
        default = BEACON_SCHEMA["$defs"]["Context"]["properties"][field].get("default", {})
        assert value == default and type(value) is type(default)


def test_unknown_context_fields_are_refused() -> None:
    kept, refused = sdk_contract.CONTEXT.clean({"player_name": "tv", "colour": "red"})
    assert kept == {"player_name": "tv"} and set(refused) == {"colour"}


def test_integers_are_read_as_the_server_reads_them() -> None:
    kept, refused = sdk_contract.CONTEXT.clean({"asn": "2119"})
    assert kept == {"asn": 2119} and not refused
    assert sdk_contract.CONTEXT.clean({"asn": 2119.0}) == ({"asn": 2119}, {})
    assert sdk_contract.CONTEXT.clean({"asn": " 12 "}) == ({"asn": 12}, {})
    assert set(sdk_contract.CONTEXT.clean({"asn": 2119.5})[1]) == {"asn"}
    assert set(sdk_contract.CONTEXT.clean({"asn": "AS2119"})[1]) == {"asn"}


@pytest.mark.parametrize("value", ["v", "a" * 32, "a" * 64, "a" * 65, "", "has space", "a:b.c_d-e", "ø", 7])
def test_ids_follow_the_schema(value: Any) -> None:
    assert sdk_contract.is_id(value) == ID_VALIDATOR.is_valid(value)


@pytest.mark.parametrize(
    "value",
    [None, "", "qoe_pk_0123", "qoe_pk_" + "a" * 24, "qoe_pk_" + "a" * 25, "qoe_pk_" + "A" * 24, "pk_" + "a" * 24, 7],
)
def test_property_keys_follow_the_schema(value: Any) -> None:
    try:
        sdk_contract.PROPERTY_KEY_RULE(value)
    except sdk_contract.InvalidValueError:
        accepted = False
    else:
        accepted = True
    assert accepted == PROPERTY_KEY_VALIDATOR.is_valid(value)


def test_a_pattern_ending_in_dollar_refuses_a_trailing_newline_as_the_server_does() -> None:
    # The schema's patterns end in "$". The server's regex engine (and JSON Schema's, ECMA-262)
    # matches "$" only at the very end; Python's re, which the jsonschema package uses, also
    # before a final newline. The SDK follows the server.
    assert not sdk_contract.is_id("x\n")
    with pytest.raises(sdk_contract.InvalidValueError):
        sdk_contract.PROPERTY_KEY_RULE("qoe_pk_0123456789abcdef01234567\n")
    kept, refused = sdk_contract.CONTEXT.clean({"country": "NO\n", "player_name": "tv"})
    assert kept == {"player_name": "tv"} and set(refused) == {"country"}


def test_a_schema_keyword_the_sdk_does_not_know_fails_loudly() -> None:
    with pytest.raises(ValueError, match="does not understand"):
        sdk_contract.compile_rule({"type": "string", "format": "email"})
    with pytest.raises(ValueError, match="does not understand"):
        sdk_contract.compile_rule({"type": "array"})


def test_every_context_field_set_at_once_makes_a_valid_beacon() -> None:
    time = FakeTime()
    sink = MemorySink(time.clock)
    context = {
        "player_name": "tv-app",
        "player_version": "1.2.3",
        "title_id": "ml-1",
        "title": "Toy Story (1995)",
        "series": "s1",
        "stream_type": "live",
        "cdn": "cdn-a",
        "device_type": "tv",
        "os": "Tizen",
        "browser": "none",
        "country": "NO",
        "region": "Oslo",
        "asn": 2119,
        "connection_type": "wifi",
        "experiment": "steering-a",
        "page_url": "https://example.test/watch",
        "custom": {"tier": "gold"},
    }
    assert set(context) == set(BEACON_SCHEMA["$defs"]["Context"]["properties"])
    reporter = Reporter(sink, clock=time.clock)
    reporter.tracker(ViewerIdentity("viewer-1", 0.1), context=context).start_view()
    [beacon] = validate_all(sink.payloads)
    assert beacon["context"] == context
    assert reporter.stats.context_fields_dropped == 0
