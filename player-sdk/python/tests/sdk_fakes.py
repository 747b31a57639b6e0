"""Fakes for the SDK's tests: a fake clock, and the bundled JSON Schema as the judge of payloads.

The tests run against the SDK installed alone (``make sdk-test``), so nothing here imports the
server: payloads are validated with ``jsonschema`` against the ``beacon.schema.json`` the installed
package ships (the copy the server generates from its models; the server's own tests check the
copy is current and validate SDK payloads with the models too).
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

T0_MS = 1_790_000_000_000  # a fixed viewer clock

BEACON_SCHEMA: dict[str, Any] = orjson.loads(files("qoe_sdk").joinpath("beacon.schema.json").read_bytes())
Draft202012Validator.check_schema(BEACON_SCHEMA)
_VALIDATOR = Draft202012Validator(BEACON_SCHEMA)

# The closed list of event types, as the schema spells it (one ``const`` tag per event definition).
EVENT_TYPES = frozenset(
    d["properties"]["type"]["const"]
    for d in BEACON_SCHEMA["$defs"].values()
    if "const" in d.get("properties", {}).get("type", {})
)


class FakeTime:
    """A clock in integer ms and an async sleep that advances it instead of waiting."""

    def __init__(self, start_ms: int = T0_MS) -> None:
        self.ms = start_ms
        self.sleeps: list[float] = []

    def clock(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.ms += round(seconds * 1000)
        await asyncio.sleep(0)


class InvalidBeaconError(AssertionError):
    pass


def validate(payload: Any) -> dict[str, Any]:
    """The payload if the bundled beacon schema accepts it; raises InvalidBeaconError naming the first problem."""
    error = best_match(_VALIDATOR.iter_errors(payload))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "/"
        raise InvalidBeaconError(f"{where}: {error.message}")
    beacon: dict[str, Any] = payload
    return beacon


def validate_json(body: bytes) -> dict[str, Any]:
    return validate(orjson.loads(body))


def validate_all(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every payload checked against the bundled schema (raises on the first invalid one)."""
    return [validate(payload) for payload in payloads]


def events_of(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for payload in payloads for event in payload["events"]]
