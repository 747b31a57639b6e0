"""The beacon contract as the SDK reads it: the JSON Schema the server generates from its models.

``beacon.schema.json`` ships inside this package. It is a byte-identical copy of the platform's
``schemas/beacon.schema.json``, which ``python -m schemas.jsonschema`` writes from the pydantic
models ingest validates beacons with; the same command rewrites this copy, and a server test fails
when the copy is stale. The SDK installs without the server, so it takes the contract from here:
the schema version, the cap on events per beacon, the closed lists (view-end reasons, request
kinds), the limits it clamps and cuts values to, the id and property key patterns and the context
fields.

Context fields are checked with a small validator for the keywords the schema uses there, so the
SDK needs no JSON Schema library at run time. A keyword it does not know fails at import instead
of being ignored, so a schema change cannot quietly loosen the SDK's checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any, Final

import orjson

SCHEMA_FILE: Final = "beacon.schema.json"


def load_schema() -> dict[str, Any]:
    """The bundled beacon JSON Schema (draft 2020-12)."""
    schema: dict[str, Any] = orjson.loads(files("qoe_sdk").joinpath(SCHEMA_FILE).read_bytes())
    return schema


SCHEMA: Final[dict[str, Any]] = load_schema()


class InvalidValueError(ValueError):
    """A value the schema refuses; the message says why."""


# Takes a value, returns it as the server reads it (e.g. "2119" → 2119 for an integer), or raises InvalidValueError.
Rule = Callable[[Any], Any]

_ANNOTATIONS = frozenset({"title", "description", "default"})
_KEYWORDS = frozenset(
    {
        "type",
        "anyOf",
        "enum",
        "const",
        "maxLength",
        "minLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "maxProperties",
        "additionalProperties",
        "propertyNames",
    }
)
# An integer in text as the server's models read it: ASCII digits, "_" between digits, a zero
# fraction, blanks around (Unicode White_Space, which is not quite what str.strip() takes).
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?", re.ASCII)
_BLANKS = " \t\n\v\f\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))


def compile_rule(schema: Mapping[str, Any], where: str = "") -> Rule:
    """A rule for one value from its JSON Schema; raises ValueError on keywords this module does not know."""
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS
    if unknown:
        raise ValueError(
            f"qoe_sdk.contract does not understand {sorted(unknown)} at {where or '/'} of the beacon schema"
        )
    if "anyOf" in schema:
        if set(schema) - _ANNOTATIONS != {"anyOf"}:
            raise ValueError(f"anyOf next to other keywords at {where} of the beacon schema")
        return _any_of([compile_rule(branch, f"{where}/anyOf") for branch in schema["anyOf"]])
    kind = schema.get("type")
    checks: list[Rule] = [_TYPES[kind]] if kind in _TYPES else []
    if kind is not None and kind not in _TYPES:
        raise ValueError(f"qoe_sdk.contract does not understand type {kind!r} at {where} of the beacon schema")
    if "const" in schema:
        checks.append(_one_of((schema["const"],)))
    if "enum" in schema:
        checks.append(_one_of(tuple(schema["enum"])))
    if "minLength" in schema or "maxLength" in schema:
        checks.append(_length(schema.get("minLength", 0), schema.get("maxLength")))
    if "pattern" in schema:
        checks.append(_pattern(schema["pattern"]))
    bounds = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    if any(key in schema for key in bounds):
        checks.append(_range(*(schema.get(key) for key in bounds)))
    if kind == "object":
        names = compile_rule(schema.get("propertyNames", {}), f"{where}/propertyNames")
        extra = schema.get("additionalProperties", True)
        values = compile_rule(extra, f"{where}/additionalProperties") if isinstance(extra, Mapping) else None
        checks.append(_members(names, values, extra is not False, schema.get("maxProperties")))
    return _all_of(checks)


def _all_of(checks: list[Rule]) -> Rule:
    def check(value: Any) -> Any:
        for rule in checks:
            value = rule(value)
        return value

    return check


def _any_of(branches: list[Rule]) -> Rule:
    def check(value: Any) -> Any:
        reasons = []
        for rule in branches:
            try:
                return rule(value)
            except InvalidValueError as exc:
                reasons.append(str(exc))
        raise InvalidValueError(" or ".join(reasons))

    return check


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise InvalidValueError("bytes that are not UTF-8") from None
    raise InvalidValueError(f"{type(value).__name__} is not a string")


def _integer(value: Any) -> int:
    # What the server's models accept as an integer in JSON: ints, whole floats, digit strings.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(text := value.strip(_BLANKS)):
        return int(text.partition(".")[0])
    raise InvalidValueError(f"{value!r} is not an integer")


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValueError(f"{value!r} is not a finite number")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{value!r} is not a boolean")
    return value


def _null(value: Any) -> None:
    if value is not None:
        raise InvalidValueError(f"{value!r} is not null")


def _object(value: Any) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValueError(f"{type(value).__name__} is not an object")
    return dict(value)


_TYPES: dict[str, Rule] = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "null": _null,
    "object": _object,
}


def _one_of(allowed: tuple[Any, ...]) -> Rule:
    def check(value: Any) -> Any:
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise InvalidValueError(f"{value!r} is not one of {list(allowed)}")
        return value

    return check


def _length(least: int, most: int | None) -> Rule:
    def check(value: str) -> str:
        if len(value) < least or (most is not None and len(value) > most):
            raise InvalidValueError(f"length {len(value)} is outside {least}..{most if most is not None else ''}")
        return value

    return check


def _pattern(pattern: str) -> Rule:
    # JSON Schema patterns search (ECMA-262). Python's "$" also matches before a final newline,
    # which the server's regex engine does not: anchor the end with \Z instead.
    source = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    compiled = re.compile(source)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise InvalidValueError(f"{value!r} does not match {pattern}")
        return value

    return check


def _range(low: float | None, high: float | None, above: float | None, below: float | None) -> Rule:
    def check(value: float) -> float:
        if (
            (low is not None and value < low)
            or (high is not None and value > high)
            or (above is not None and value <= above)
            or (below is not None and value >= below)
        ):
            raise InvalidValueError(f"{value!r} is out of range")
        return value

    return check


def _members(names: Rule, values: Rule | None, open_: bool, most: int | None) -> Rule:
    def check(value: dict[Any, Any]) -> dict[Any, Any]:
        if most is not None and len(value) > most:
            raise InvalidValueError(f"{len(value)} members, at most {most} allowed")
        if value and not open_:
            raise InvalidValueError(f"unexpected members {sorted(map(str, value))}")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValueError(f"member name {key!r} is not a string")
            out[names(key)] = values(item) if values is not None else item
        return out

    return check


class Record:
    """The fields of one object of the schema (e.g. the context), each with its rule and default."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        if schema.get("additionalProperties") is not False:
            raise ValueError("qoe_sdk.contract expects records that refuse unknown fields")
        properties: Mapping[str, Mapping[str, Any]] = schema["properties"]
        self.fields: dict[str, Rule] = {name: compile_rule(p, name) for name, p in properties.items()}
        # A field without a declared default that is an object defaults to {} (pydantic's default_factory).
        self.defaults: dict[str, Any] = {
            name: p.get("default", {}) for name, p in properties.items() if name not in schema.get("required", ())
        }

    def clean(self, fields: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The fields as the server reads them, without those equal to their default; and the refused ones with why."""
        kept: dict[str, Any] = {}
        refused: dict[str, str] = {}
        for name, value in fields.items():
            rule = self.fields.get(name) if isinstance(name, str) else None
            if rule is None:
                refused[str(name)] = "unknown field"
                continue
            try:
                clean = rule(value)
            except InvalidValueError as exc:
                refused[name] = str(exc)
                continue
            if name not in self.defaults or not _same(clean, self.defaults[name]):
                kept[name] = clean
        return kept, refused


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and bool(value == default)


def _event_field(event_type: str, name: str) -> dict[str, Any]:
    for definition in SCHEMA["$defs"].values():
        properties = definition.get("properties", {})
        if properties.get("type", {}).get("const") == event_type:
            field: dict[str, Any] = properties[name]
            return field
    raise KeyError(f"the beacon schema has no event type {event_type!r}")


def _branch(field: Mapping[str, Any], key: str) -> Any:
    """``key`` of the field, or of its non-null branch when the field is optional (``anyOf [..., null]``)."""
    if key in field:
        return field[key]
    for branch in field.get("anyOf", ()):
        if key in branch:
            return branch[key]
    return None


def max_length(event_type: str, name: str) -> int:
    """The length the server allows for a string field of an event (values are cut to it)."""
    return int(_branch(_event_field(event_type, name), "maxLength"))


def bounds(event_type: str, name: str) -> tuple[float, float]:
    """(lowest, highest) for a numeric field of an event; an exclusive low bound is returned as is."""
    field = _event_field(event_type, name)
    low = _branch(field, "minimum")
    if low is None:
        low = _branch(field, "exclusiveMinimum")
    high = _branch(field, "maximum")
    if low is None or high is None:  # at import: the tracker compares with both
        raise KeyError(f"the beacon schema gives {event_type}.{name} no lower or no upper bound")
    return low, high


def choices(event_type: str, name: str) -> frozenset[str]:
    """The closed list a string field of an event takes its values from."""
    return frozenset(_branch(_event_field(event_type, name), "enum"))


_BEACON: Final = SCHEMA["properties"]
SCHEMA_VERSION: Final[int] = _BEACON["version"]["const"]
MAX_EVENTS_PER_BEACON: Final[int] = _BEACON["events"]["maxItems"]
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    d["properties"]["type"]["const"]
    for d in SCHEMA["$defs"].values()
    if "const" in d.get("properties", {}).get("type", {})
)
# view_id and viewer_id share one Id rule.
ID_RULE: Final[Rule] = compile_rule(_BEACON["viewer_id"], "viewer_id")
# Optional: None passes (the beacon then names no property).
PROPERTY_KEY_RULE: Final[Rule] = compile_rule(_BEACON["property_key"], "property_key")
CONTEXT: Final = Record(SCHEMA["$defs"]["Context"])


def is_id(value: object) -> bool:
    """Whether ``value`` is a view or viewer id the server accepts."""
    if not isinstance(value, str):
        return False
    try:
        ID_RULE(value)
    except InvalidValueError:
        return False
    return True
