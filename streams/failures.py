"""What the stream worker does when a write fails: retry it, or isolate the rows to blame.

A write fails for one of two reasons, and the agents treat them differently:

- **Transient**: the warehouse is down, slow or overloaded (connection errors, timeouts, memory
  limits, too many parts: anything that does not blame the data). :func:`until_done` retries
  forever with back-off. The records wait unacknowledged in Kafka, so nothing is lost however long
  the warehouse is away.
- **Deterministic**: the data is refused. A row cannot be serialised (an integer beyond 64 bits),
  or ClickHouse cannot parse it or fit it in its column's type (:func:`blames_the_data`). The same
  batch would fail on every retry, its records would never be acknowledged, and a restarted worker
  would replay them: a crash loop. :func:`write_isolating` halves the batch until each refused row
  stands alone, writes every other row, tries a lone refused row ``max_retries`` more times (in
  case the error was misread), and hands it back for the dead-letter topic (:func:`dead_letter`).

Every agent acknowledges a dead-lettered record like a stored one, so no record blocks its
partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from foundation.settings import Settings, default_of
from schemas import DeadLetter

log = logging.getLogger(__name__)

T = TypeVar("T")

# ClickHouse error codes that blame the data, not the warehouse.
DATA_ERROR_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        25,  # CANNOT_PARSE_ESCAPE_SEQUENCE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        32,  # ATTEMPT_TO_READ_AFTER_EOF (a truncated row)
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        407,  # DECIMAL_OVERFLOW
    }
)
# TOO_MANY_PARTS is transient (merges are behind), except when one insert's rows span more
# partitions than max_partitions_per_insert_block: that is their dates, and a retry will not help.
TOO_MANY_PARTS = 252
_TOO_MANY_PARTITIONS = "partitions for single insert block"
_CODE = re.compile(r"Code: (\d+)")
# Raised while encoding a row on our side (orjson's JSONEncodeError is a TypeError), before any I/O.
_UNSERIALISABLE = (TypeError, ValueError, OverflowError, struct.error, DataError)

DEAD_LETTER_BODY_LIMIT = 16_384


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code of ``exc``, from the driver or from the message (chDB)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    match = _CODE.search(str(exc))
    return int(match[1]) if match else None


def unserialisable(exc: BaseException) -> bool:
    return isinstance(exc, _UNSERIALISABLE)


def blames_the_data(exc: BaseException) -> bool:
    """True when retrying the same rows cannot succeed: the rows, not the warehouse, are at fault."""
    if unserialisable(exc):
        return True
    if not isinstance(exc, DatabaseError):
        return False
    code = error_code(exc)
    if code == TOO_MANY_PARTS:
        return _TOO_MANY_PARTITIONS in str(exc).lower()
    return code in DATA_ERROR_CODES


def reason_of(exc: BaseException) -> str:
    """The first line of an error, short enough for a dead letter."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:500]


def backoff(first_s: float, most_s: float) -> Iterator[float]:
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, most_s)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a refused row is tried again before it is dead-lettered (``QOE_STREAM_MAX_RETRIES``)."""

    max_retries: int = default_of("stream_max_retries")
    first_delay_s: float = 0.1  # doubling; a poison row holds its batch up for about 0.7 s in all
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.first_delay_s < 0 or self.max_delay_s < self.first_delay_s:
            raise ValueError("max_retries and the delays must be non-negative, max_delay_s >= first_delay_s")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_retries=settings.stream_max_retries)


@dataclass(frozen=True, slots=True)
class Refused(Generic[T]):
    """One item a write refused as bad data, and why."""

    item: T
    reason: str


def write_isolating(items: list[T], write: Callable[[list[T]], None], policy: RetryPolicy) -> list[Refused[T]]:
    """Writes ``items`` and returns those refused as bad data; every other item is written.

    A deterministic failure halves the batch until each refused item stands alone, so a bad item
    costs about log2(n) extra writes and never takes good ones with it. Transient failures
    propagate: the caller retries the whole call, so ``write`` must make a repeated batch harmless
    (a deduplication token derived from the batch, or a replacing key). Blocking: run it on a
    worker thread.
    """
    if not items:
        return []
    try:
        write(items)
    except Exception as exc:
        if not blames_the_data(exc):
            raise
        if len(items) == 1:
            return _retry_alone(items[0], write, policy, exc)
        middle = len(items) // 2
        return write_isolating(items[:middle], write, policy) + write_isolating(items[middle:], write, policy)
    return []


def _retry_alone(item: T, write: Callable[[list[T]], None], policy: RetryPolicy, exc: Exception) -> list[Refused[T]]:
    # An item we cannot even encode will not encode next time: only the warehouse's refusals are retried.
    retries = 0 if unserialisable(exc) else policy.max_retries
    delays = backoff(policy.first_delay_s, policy.max_delay_s)
    for _ in range(retries):
        time.sleep(next(delays))
        try:
            write([item])
        except Exception as again:
            if not blames_the_data(again):
                raise
            exc = again
        else:
            return []
    return [Refused(item, reason_of(exc))]


async def until_done(step: Callable[[], T], what: str, first_delay_s: float = 0.5, max_delay_s: float = 10.0) -> T:
    """Runs a warehouse step on a worker thread until it succeeds, backing off between tries.

    For transient failures: anything the data is to blame for must be isolated inside ``step``.
    """
    delays = backoff(first_delay_s, max_delay_s)
    while True:
        try:
            return await asyncio.to_thread(step)
        except Exception:
            delay = next(delays)
            log.exception("%s failed; retrying in %.1f s", what, delay)
            await asyncio.sleep(delay)


def dead_letter(source: str, reason: str, body: bytes | str) -> bytes:
    """A ``schemas.DeadLetter`` record: what an agent refused, where it came from and why."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    letter = DeadLetter(
        received_at=int(time.time() * 1000),
        source=source,
        status=0,
        reason=reason,
        body=raw[:DEAD_LETTER_BODY_LIMIT].decode("utf-8", "replace"),
        body_truncated=len(raw) > DEAD_LETTER_BODY_LIMIT,
    )
    return letter.model_dump_json().encode()


def as_text(value: Any) -> str:
    """JSON of a row for a dead letter, even one orjson refused (the standard library takes any int)."""
    return json.dumps(value, default=str, ensure_ascii=False)
