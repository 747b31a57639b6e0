"""Turning validation failures into reasons a player developer can act on."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas import ErrorDetail, EventType, FieldError

_EVENT_TYPES = ", ".join(t.value for t in EventType)


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _message(error: Any) -> str:
    if error["type"] == "union_tag_invalid":
        return f"unknown event type {error['ctx']['tag']!r}; allowed: {_EVENT_TYPES}"
    if error["type"] == "union_tag_not_found":
        return "event has no 'type'"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def _path(error: Any) -> tuple[int | str, ...]:
    loc: tuple[int | str, ...] = error["loc"]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):  # a check across fields names the one it blames
        loc = loc + cause.loc
    # Drop the discriminator tag pydantic puts between an event's index and its field.
    if len(loc) >= 3 and loc[0] == "events" and isinstance(loc[1], int) and loc[2] in set(EventType):
        loc = loc[:2] + loc[3:]
    return loc


def describe(exc: ValidationError, limit: int = 20) -> list[ErrorDetail]:
    details = [ErrorDetail(field=field_path(_path(e)), message=_message(e)) for e in exc.errors(include_url=False)]
    return details[:limit]
