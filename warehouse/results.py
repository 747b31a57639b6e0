"""How reads come back: frames that keep the query's columns when empty, UTC times, ISO 8601 strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client


def query_frame(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> pd.DataFrame:
    """The result as a frame with the query's columns, also when it has no rows.

    chDB answers an empty result without a block, hence without column names; a caller that then
    reads a column got a KeyError, which the APIs answered 500. The names of an empty result come
    from ``DESCRIBE``, which costs one more round trip on empty results only.
    """
    frame = client.query_df(sql, parameters=parameters or {})
    if len(frame.columns):
        return frame
    described = client.query(f"DESCRIBE TABLE ({sql})", parameters=parameters or {}).result_rows
    return pd.DataFrame({str(row[0]): pd.Series(dtype="object") for row in described})


def utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``frame`` with these columns as timezone-aware UTC datetimes."""
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def iso_ms(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC with milliseconds; None stays None."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
