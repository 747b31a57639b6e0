"""Which write failures blame the data, and how a batch with bad rows is written around them."""

from __future__ import annotations

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from schemas import DeadLetter
from streams.failures import (
    DEAD_LETTER_BODY_LIMIT,
    Refused,
    RetryPolicy,
    as_text,
    blames_the_data,
    dead_letter,
    until_done,
    write_isolating,
)

NO_WAIT = RetryPolicy(max_retries=2, first_delay_s=0.0, max_delay_s=0.0)


def _unencodable() -> Exception:
    try:
        orjson.dumps({"max_seq": 2**64})
    except orjson.JSONEncodeError as exc:
        return exc
    raise AssertionError("orjson encoded an integer beyond 64 bits")


@pytest.mark.parametrize(
    ("exc", "data"),
    [
        (_unencodable(), True),
        (DatabaseError("Code: 27. DB::Exception: Cannot parse input: expected '\"' before: 'x'"), True),
        (DatabaseError("Code: 321. DB::Exception: Value is out of range of data type UInt32"), True),
        (DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)"), True),
        (DatabaseError("Code: 252. DB::Exception: Too many parts (300). Merges are processing slower"), False),
        (DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded"), False),
        (DatabaseError("Code: 60. DB::Exception: Unknown table expression identifier 'views'"), False),
        (OperationalError("Error HTTPConnectionPool: Connection refused"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
        (TimeoutError(), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_only_errors_that_blame_the_data_are_deterministic(exc: Exception, data: bool) -> None:
    assert blames_the_data(exc) is data


def test_the_driver_code_counts_before_the_message() -> None:
    exc = DatabaseError("DB::Exception: Cannot parse input", code=27)
    assert blames_the_data(exc)


class Table:
    """A fake writer: refuses any batch holding a bad item (as ClickHouse refuses a whole insert)."""

    def __init__(self, bad: set[int], error: Exception | None = None, flaky: int = 0) -> None:
        self.bad = bad
        self.error = error or DatabaseError("Code: 27. DB::Exception: Cannot parse input")
        self.flaky = flaky  # refusals of a bad item before it goes in after all (a misread error)
        self.rows: list[int] = []
        self.calls = 0

    def write(self, batch: list[int]) -> None:
        self.calls += 1
        if self.bad.intersection(batch):
            if self.flaky and len(batch) == 1:
                self.flaky -= 1
                if not self.flaky:
                    self.bad.clear()
            raise self.error
        self.rows += batch


def test_a_bad_row_is_isolated_and_every_other_row_is_written_once() -> None:
    table = Table(bad={13, 77})
    refused = write_isolating(list(range(100)), table.write, NO_WAIT)
    assert [r.item for r in refused] == [13, 77]
    assert all("Cannot parse" in r.reason for r in refused)
    assert sorted(table.rows) == [i for i in range(100) if i not in (13, 77)]
    # Halving costs about 2·log2(100) writes per bad row, plus its retries: not one write per row.
    assert table.calls <= 40


def test_a_refused_row_is_retried_before_it_is_dead_lettered() -> None:
    table = Table(bad={5})
    write_isolating([5], table.write, NO_WAIT)
    assert table.calls == 1 + NO_WAIT.max_retries
    misread = Table(bad={5}, flaky=2)  # refused twice, then taken: not bad after all
    assert write_isolating([4, 5, 6], misread.write, NO_WAIT) == []
    assert sorted(misread.rows) == [4, 5, 6]


def test_a_row_that_cannot_be_encoded_is_not_retried() -> None:
    table = Table(bad={5}, error=_unencodable())
    assert [r.item for r in write_isolating([5], table.write, NO_WAIT)] == [5]
    assert table.calls == 1


def test_a_transient_failure_propagates_for_the_caller_to_retry() -> None:
    table = Table(bad={1}, error=OperationalError("Connection refused"))
    with pytest.raises(OperationalError):
        write_isolating([0, 1, 2], table.write, NO_WAIT)
    assert table.rows == []  # not halved: the warehouse, not the data, is to blame


def test_no_retries_and_no_rows_are_fine() -> None:
    table = Table(bad={1})
    assert write_isolating([], table.write, NO_WAIT) == []
    assert write_isolating([1], table.write, RetryPolicy(max_retries=0)) == [Refused(1, table.error.args[0])]
    assert table.calls == 1
    with pytest.raises(ValueError, match="non-negative"):
        RetryPolicy(max_retries=-1)


async def test_until_done_retries_a_transient_failure_until_it_passes() -> None:
    attempts = []

    def step() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("Connection refused")
        return "stored"

    assert await until_done(step, "test write", first_delay_s=0.0, max_delay_s=0.0) == "stored"
    assert len(attempts) == 3


def test_a_dead_letter_says_where_from_and_why_and_keeps_a_bounded_body() -> None:
    body = as_text({"view_id": "v1", "max_seq": 2**64, "title": "\u202eemoji \U0001f600\u0000"})
    letter = DeadLetter.model_validate_json(dead_letter("sessionizer:views/v1", "Integer exceeds 64-bit range", body))
    assert (letter.source, letter.reason, letter.status) == ("sessionizer:views/v1", "Integer exceeds 64-bit range", 0)
    assert str(2**64) in letter.body and "\U0001f600" in letter.body and not letter.body_truncated
    long = DeadLetter.model_validate_json(dead_letter("sink:beacons/0@1", "bad", b"x" * (DEAD_LETTER_BODY_LIMIT + 1)))
    assert len(long.body) == DEAD_LETTER_BODY_LIMIT and long.body_truncated
