"""Parsing of CMCD v2 event-mode reports: each line an HTTP Structured Field dictionary (RFC 9651).

A report (``Content-Type: application/cmcd``) holds one CMCD record per line; each line is
parsed with ``http_sf`` into a :class:`CmcdRecord` with the keys we use, typed and
range-checked, or refused with a :class:`LineError` that names the line and the key that is
wrong. What the records mean is :mod:`ingest.cmcd.state`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import http_sf

from schemas import ErrorDetail

SEQ_STRIDE = 4  # events per record at most; seq = sn * SEQ_STRIDE + i
MAX_SN = (2**32 - 1) // SEQ_STRIDE - 1  # seq is a UInt32 in the warehouse
MAX_TS = 4_102_444_800_000
VIEWER_KEY = "qoe-viewer"
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# Player states (``sta``).
STARTING, PLAYING, SEEKING, REBUFFERING, PAUSED = "s", "p", "k", "r", "a"
WAITING, ENDED, FATAL, QUIT, PRELOADING = "w", "e", "f", "q", "d"
STATES = frozenset("spkrawefqd")


@dataclass(frozen=True)
class LineError:
    """Why one line of a report was refused."""

    line: int
    key: str
    message: str

    def detail(self) -> ErrorDetail:
        return ErrorDetail(field=f"line {self.line}" + (f": {self.key}" if self.key else ""), message=self.message)


class _KeyError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class CmcdRecord:
    """One event-mode record, with the keys we use, typed and range-checked."""

    line: int
    event: str  # e
    sn: int
    ts: int
    sid: str
    version: int  # v
    state: str | None = None  # sta
    cid: str | None = None
    stream_type: str | None = None  # st
    cdn: str | None = None
    viewer: str | None = None  # custom key qoe-viewer
    bitrate_kbps: float | None = None  # br
    top_bitrate_kbps: float | None = None  # tb
    buffer_ms: int | None = None  # bl
    playhead_ms: int | None = None  # pt
    object_duration_ms: int | None = None  # d
    object_type: str | None = None  # ot
    dropped_frames: int | None = None  # dfa
    response_code: int | None = None  # rc
    ttfb_ms: int | None = None
    ttlb_ms: int | None = None
    url: str | None = None
    error_codes: tuple[str, ...] = ()  # ec


Fields = dict[str, tuple[Any, dict[str, Any]]]


def parse_report(text: str) -> tuple[list[CmcdRecord], list[LineError]]:
    """Every non-empty line as a record, or the errors that refuse it (line numbers from 1)."""
    records: list[CmcdRecord] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            records.append(parse_record(raw, number))
        except _KeyError as exc:
            errors.append(LineError(number, exc.key, exc.message))
    return records, errors


def parse_record(line: str, number: int = 1) -> CmcdRecord:
    """One line: a Structured Field dictionary of CMCD keys. Raises _KeyError naming the key."""
    try:
        fields: Fields = http_sf.parse(line.strip().encode(), tltype="dictionary")  # type: ignore[assignment]
    except http_sf.StructuredFieldError as exc:
        key = exc.context or _key_at(line, exc.position)  # the parser names the key when it knows it
        raise _KeyError(key, f"not a CMCD dictionary: {exc}") from exc
    except UnicodeEncodeError as exc:
        raise _KeyError("", "CMCD records are ASCII; non-ASCII characters must be %-escaped") from exc
    version = _integer(fields, "v", 1, 1_000)
    if version is None or version < 2:
        raise _KeyError("v", "event mode is CMCD version 2: send v=2")
    record = CmcdRecord(
        line=number,
        event=_required(_token(fields, "e"), "e", "every event report needs the event type e"),
        sn=_required(_integer(fields, "sn", 0, MAX_SN), "sn", "every event report needs the sequence number sn"),
        ts=_required(_integer(fields, "ts", 0, MAX_TS), "ts", "every event report needs the timestamp ts (ms)"),
        sid=_required(_identifier(fields, "sid"), "sid", "every event report needs the session id sid"),
        version=version,
        state=_state(fields),
        cid=_string(fields, "cid", 128),
        stream_type=_token(fields, "st"),
        cdn=_string(fields, "cdn", 128),
        viewer=_identifier(fields, VIEWER_KEY),
        bitrate_kbps=_rate(fields, "br"),
        top_bitrate_kbps=_rate(fields, "tb"),
        buffer_ms=_as_int(_number(fields, "bl")),
        playhead_ms=_integer(fields, "pt", 0, 2**53),
        object_duration_ms=_as_int(_number(fields, "d")),
        object_type=_token(fields, "ot"),
        dropped_frames=_integer(fields, "dfa", 0, 2**53),
        response_code=_integer(fields, "rc", 0, 599),
        ttfb_ms=_integer(fields, "ttfb", 0, 2**31),
        ttlb_ms=_integer(fields, "ttlb", 0, 2**31),
        url=_string(fields, "url", 4096),
        error_codes=_strings(fields, "ec"),
    )
    # State-change events carry the value they signal (CTA-5004-B); without it they say nothing.
    if record.event == "ps" and record.state is None:
        raise _KeyError("sta", "a play-state report (e=ps) needs the state sta")
    if record.event == "bc" and record.bitrate_kbps is None:
        raise _KeyError("br", "a bitrate-change report (e=bc) needs the bitrate br")
    return record


def _key_at(line: str, position: int | None) -> str:
    """The dictionary key whose member holds ``position``: the key the player got wrong."""
    start = line.rfind(",", 0, position or 0) + 1
    return line[start:].split("=", 1)[0].split(",", 1)[0].strip()[:32]


def _required(value: Any, key: str, message: str) -> Any:
    if value is None:
        raise _KeyError(key, message)
    return value


def _bare(fields: Fields, key: str) -> Any:
    member = fields.get(key)
    return None if member is None else member[0]


def _integer(fields: Fields, key: str, low: int, high: int) -> int | None:
    value = _bare(fields, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _KeyError(key, f"must be an integer, got {_shown(value)}")
    if not low <= value <= high:
        raise _KeyError(key, f"must be between {low} and {high}, got {value}")
    return value


def _number(fields: Fields, key: str) -> float | None:
    """An integer or decimal; for a v2 inner list, the video item (``;v``), else the first."""
    value = _bare(fields, key)
    if isinstance(value, list):
        if not value:
            return None
        items: list[tuple[Any, dict[str, Any]]] = value
        value = next((v for v, params in items if "v" in params or "av" in params), items[0][0])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _KeyError(key, f"must be a number or a list of numbers, got {_shown(value)}")
    if value < 0:
        raise _KeyError(key, f"must not be negative, got {value}")
    return float(value)


def _rate(fields: Fields, key: str) -> float | None:
    value = _number(fields, key)
    if value is not None and not 0 < value <= 1_000_000:
        raise _KeyError(key, f"must be a bitrate in kbps above 0 and at most 1000000, got {value:g}")
    return value


def _as_int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _string(fields: Fields, key: str, max_length: int) -> str | None:
    value = _bare(fields, key)
    if value is None:
        return None
    if not isinstance(value, str):  # a Token is not a str: tokens are not strings here
        raise _KeyError(key, f"must be a quoted string, got {_shown(value)}")
    if len(value) > max_length:
        raise _KeyError(key, f"must be at most {max_length} characters, got {len(value)}")
    return value


def _identifier(fields: Fields, key: str) -> str | None:
    value = _string(fields, key, 64)
    if value is not None and not _ID.fullmatch(value):
        raise _KeyError(key, "must be 1-64 characters of A-Z a-z 0-9 _ . : - (a UUID is what CMCD recommends)")
    return value


def _token(fields: Fields, key: str) -> str | None:
    value = _bare(fields, key)
    if value is None:
        return None
    if not isinstance(value, http_sf.Token | str):  # a quoted string is tolerated
        raise _KeyError(key, f"must be a token, got {_shown(value)}")
    return str(value)


def _state(fields: Fields) -> str | None:
    state = _token(fields, "sta")
    if state is not None and state not in STATES:
        raise _KeyError("sta", f"unknown player state {state!r}; CMCD v2 defines {', '.join(sorted(STATES))}")
    return state


def _strings(fields: Fields, key: str) -> tuple[str, ...]:
    value = _bare(fields, key)
    if value is None:
        return ()
    items = [v for v, _ in value] if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise _KeyError(key, "must be a list of strings")
    return tuple(str(item)[:128] for item in items)


def _shown(value: Any) -> str:
    kind = "boolean" if isinstance(value, bool) else type(value).__name__.lower()
    return f"{kind} {value!r}"[:80]
