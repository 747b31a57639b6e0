"""The QoE metrics over the rollups: ``/v1/stats`` and the dashboards read them here. Owns no table.

Reads ``qoe_minute``, ``qoe_minute_cube`` and ``qoe_hour``, which materialized views fill from
``view_deltas`` (:mod:`warehouse.views` owns it and its one writer).

Windows are whole minutes of the server's clock ending with the current (partial) minute.
Without filters, and with one, the per-dimension rollup ``qoe_minute`` answers; with several
filters (or a breakdown under a filter) the cube ``qoe_minute_cube`` does. Both are filled by the
same materialized views from the same deltas, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from foundation.http import BadRequestError
from schemas.dimensions import SLICES
from schemas.view_facts import COLUMNS
from warehouse.stats.metrics import compute

# API dimension name → column of the cube and of ``views`` (schemas.dimensions is the one list).
DIMENSIONS: dict[str, str] = {name: dimension.column for name, dimension in SLICES.items()}
STEPS: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
MAX_MINUTES = 60 * 24 * 31
MAX_POINTS = 1500


class StatsQueryError(BadRequestError):
    """A request the read model cannot answer; the message says what is allowed."""


@dataclass(frozen=True)
class Window:
    minutes: int
    end: datetime  # the end of the window (exclusive): the end of the current minute

    @classmethod
    def last(cls, minutes: int, now: datetime | None = None, step_minutes: int = 1) -> Window:
        """The last ``minutes`` up to the end of the current step (of ``step_minutes``, aligned)."""
        if not 1 <= minutes <= MAX_MINUTES:
            raise StatsQueryError(f"minutes must be between 1 and {MAX_MINUTES}, got {minutes}")
        now = now or datetime.now(UTC)
        return cls(minutes, _floor(now, step_minutes) + timedelta(minutes=step_minutes))

    def aligned(self, step_minutes: int) -> Window:
        """The same length, ending at the end of the step that holds this window's last minute."""
        return Window.last(self.minutes, self.end - timedelta(minutes=1), step_minutes)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(minutes=self.minutes)

    def params(self) -> dict[str, Any]:
        return {"t0": int(self.start.timestamp()), "t1": int(self.end.timestamp())}

    def describe(self) -> dict[str, Any]:
        return {"minutes": self.minutes, "from": self.start, "to": self.end}


@dataclass(frozen=True)
class Filters:
    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.values) - set(DIMENSIONS))
        if unknown:
            raise StatsQueryError(f"unknown filter {unknown[0]!r}; allowed: {sorted(DIMENSIONS)}")
        asn = self.values.get("asn")
        if asn is not None and not (asn.isdigit() and int(asn) < 2**32):
            raise StatsQueryError(f"asn must be a number, got {asn!r}")

    def cube_sql(self, params: dict[str, Any]) -> str:
        """AND-ed conditions on the cube (or on ``views``) columns, with their parameters."""
        parts = []
        for i, (name, value) in enumerate(sorted(self.values.items())):
            column = DIMENSIONS[name]
            kind = "UInt32" if name == "asn" else "String"
            parts.append(f"{column} = {{f{i}:{kind}}}")
            params[f"f{i}"] = int(value) if name == "asn" else value
        return " AND ".join(parts) or "1"


def _source(filters: Filters, group: str | None, params: dict[str, Any]) -> tuple[str, str, str]:
    """(table, WHERE clause, group expression) for a query with these filters, grouped by a dimension."""
    values = filters.values
    if not values or (len(values) == 1 and group is None):
        dimension, value = next(iter(values.items())) if values else ("all", "")
        if group is not None:
            dimension = group
        params.update(dimension=dimension, value=value)
        where = "dimension = {dimension:String}" + ("" if group else " AND value = {value:String}")
        return "qoe_minute", where, "value" if group else "''"
    expression = f"toString({DIMENSIONS[group]})" if group else "''"
    return "qoe_minute_cube", filters.cube_sql(params), expression


def _groups(
    client: Client,
    window: Window,
    filters: Filters,
    group: str | None,
    bucket_minutes: int | None = None,
    concurrency_for: int | None = None,
) -> list[dict[str, Any]]:
    """Sums, VST quantiles and peak concurrency per group (and per time bucket when asked).

    Two queries: the sums and digests in one pass, then the peak concurrency, which must add the
    per-instant samples of every cell of a minute before taking their maximum. With
    ``concurrency_for``, only the groups with the most attempts get the second, costlier query.
    """
    params = window.params()
    table, where, group_expr = _source(filters, group, params)
    in_window = f"{where} AND minute >= toDateTime({{t0:Int64}}) AND minute < toDateTime({{t1:Int64}})"
    source = _sums_source(table, where, in_window, window, bucket_minutes, params)
    sums = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
    result = client.query(
        f"SELECT {group_expr} AS g, {_bucket('at', bucket_minutes)} AS b, {sums}, "
        f"quantilesTDigestMerge(0.5, 0.95)(vst_digest) AS vst FROM {source} GROUP BY g, b ORDER BY g, b",
        parameters=params,
    )
    bucket = _bucket("minute", bucket_minutes)
    rows = []
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        p50, p95 = row.pop("vst") or (float("nan"), float("nan"))
        row.update(vst_p50=float(p50), vst_p95=float(p95), concurrent=0)
        rows.append(row)
    wanted = rows
    if concurrency_for is not None and len(rows) > concurrency_for:
        wanted = sorted(rows, key=_rank)[:concurrency_for]
        params["groups"] = [r["g"] for r in wanted]
        in_window += f" AND {group_expr} IN {{groups:Array(String)}}"
    peaks = client.query(_peaks_sql(table, group_expr, bucket, in_window), parameters=params).result_rows
    by_group = {(row["g"], row["b"]): row for row in wanted}
    for g, b, peak in peaks:
        if (g, b) in by_group:
            by_group[(g, b)]["concurrent"] = int(peak)
    return rows


def _peaks_sql(table: str, group_expr: str, bucket: str, in_window: str) -> str:
    """Peak concurrency per group and bucket: the largest per-instant sum of any minute in it.

    In ``qoe_minute`` a (dimension, value, minute) key is one cell, so reading it FINAL gives each
    minute's samples already summed; the cube holds several cells per group and minute, which are
    summed first.
    """
    if table == "qoe_minute":
        return (
            f"SELECT {group_expr} AS g, {bucket} AS b, max(arrayMax(finalizeAggregation(active_samples))) "
            f"FROM {table} FINAL WHERE {in_window} GROUP BY g, b"
        )
    return (
        f"SELECT g, b, max(peak) FROM (SELECT {group_expr} AS g, {bucket} AS b, minute, "
        f"arrayMax(sumForEachMerge(active_samples)) AS peak FROM {table} WHERE {in_window} GROUP BY g, b, minute) "
        "GROUP BY g, b"
    )


def _bucket(column: str, bucket_minutes: int | None) -> str:
    if not bucket_minutes:
        return "toDateTime(0)"
    return f"toStartOfInterval({column}, INTERVAL {int(bucket_minutes)} MINUTE)"


def _sums_source(
    table: str, where: str, in_window: str, window: Window, bucket_minutes: int | None, params: dict[str, Any]
) -> str:
    """Where the sums come from: the whole hours of a long window from ``qoe_hour``, the rest per minute.

    Only for the per-dimension rollup, and only when no time bucket splits an hour.
    """
    columns = ", ".join(COLUMNS)
    per_minute = f"(SELECT *, minute AS at FROM {table} WHERE {in_window})"
    first = -(-int(window.start.timestamp()) // 3600) * 3600
    last = int(window.end.timestamp()) // 3600 * 3600
    hourly_buckets = bucket_minutes is None or bucket_minutes % 60 == 0
    if table != "qoe_minute" or not hourly_buckets or last <= first:
        return per_minute
    params.update(h0=first, h1=last)
    return (
        f"(SELECT {columns}, vst_digest, value, minute AS at FROM qoe_minute WHERE {in_window} "
        "AND (minute < toDateTime({h0:Int64}) OR minute >= toDateTime({h1:Int64})) "
        f"UNION ALL SELECT {columns}, vst_digest, value, hour AS at FROM qoe_hour WHERE {where} "
        "AND hour >= toDateTime({h0:Int64}) AND hour < toDateTime({h1:Int64}))"
    )


def _rank(row: dict[str, Any]) -> tuple[float, float, str]:
    """Breakdown order: most attempts first, then most watch time."""
    return (-row["attempts"], -row["watch_ms"], str(row["g"]))


def _empty_sums() -> dict[str, Any]:
    return {**dict.fromkeys(COLUMNS, 0.0), "concurrent": 0, "vst_p50": float("nan"), "vst_p95": float("nan")}


def overview(client: Client, window: Window, filters: Filters | None = None) -> dict[str, Any]:
    """Every metric over the window (``metrics.METRICS``), for the views matching the filters."""
    filters = filters or Filters()
    rows = _groups(client, window, filters, None)
    return compute(rows[0] if rows else _empty_sums())


def breakdown(
    client: Client, window: Window, dimension: str, filters: Filters | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Every metric per value of a dimension, most attempts first (then most watch time)."""
    if dimension not in DIMENSIONS:
        raise StatsQueryError(f"unknown dimension {dimension!r}; allowed: {sorted(DIMENSIONS)}")
    filters = filters or Filters()
    rows = sorted(_groups(client, window, filters, dimension, concurrency_for=limit), key=_rank)
    return [{"value": row["g"], **compute(row)} for row in rows[:limit]]


def dimension_values(client: Client, window: Window, dimension: str, limit: int = 50) -> list[str]:
    """The values a dimension took in the window, most attempts first (for filter pickers)."""
    if dimension not in DIMENSIONS:
        raise StatsQueryError(f"unknown dimension {dimension!r}; allowed: {sorted(DIMENSIONS)}")
    rows = client.query(
        "SELECT value FROM qoe_minute WHERE dimension = {dimension:String} AND minute >= toDateTime({t0:Int64}) "
        "AND minute < toDateTime({t1:Int64}) GROUP BY value ORDER BY sum(attempts) DESC, value LIMIT {limit:UInt32}",
        parameters={**window.params(), "dimension": dimension, "limit": limit},
    ).result_rows
    return [str(value) for (value,) in rows]


def timeseries(
    client: Client, window: Window, metric: str, step: str, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """One metric per step; the window is moved to end with the current step, so every point is a
    whole step (the last one still filling). Every step is present (None where there is no data)."""
    from warehouse.stats.metrics import BY_NAME

    if metric not in BY_NAME:
        raise StatsQueryError(f"unknown metric {metric!r}; allowed: {sorted(BY_NAME)}")
    if step not in STEPS:
        raise StatsQueryError(f"unknown step {step!r}; allowed: {list(STEPS)}")
    size = STEPS[step]
    if window.minutes % size:
        raise StatsQueryError(f"minutes ({window.minutes}) must be a multiple of the step ({size} min)")
    if window.minutes // size > MAX_POINTS:
        raise StatsQueryError(f"at most {MAX_POINTS} points: raise the step or shorten the window")
    filters = filters or Filters()
    window = window.aligned(size)
    by_bucket = {row["b"].replace(tzinfo=UTC): row for row in _groups(client, window, filters, None, size)}
    points = []
    for i in range(window.minutes // size):
        t = window.start + timedelta(minutes=i * size)
        row = by_bucket.get(t)
        value = compute(row)[metric] if row is not None else compute(_empty_sums())[metric]
        points.append({"t": t, "value": value})
    return points


def _floor(t: datetime, minutes: int) -> datetime:
    seconds = int(t.timestamp())
    return datetime.fromtimestamp(seconds - seconds % (minutes * 60), UTC)
