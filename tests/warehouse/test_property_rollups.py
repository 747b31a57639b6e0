"""Migration 0047 on the real embedded engine: the rollups are sliced by property, a view dimension.

What was rolled up before it belongs to the default property: the deltas and the cube's rows read
the column's default, and qoe_minute and qoe_hour get their totals copied as the default property's
rows. After it, each property's views roll up apart, on every path of the read model: the
per-dimension rollups (one filter), the cube (several), the hourly rollup (long windows).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from tests.factories.tenancy import PropertyView, store_views
from tests.factories.views import MINUTE_MS
from warehouse.client import connect
from warehouse.migrations import discover, migrate
from warehouse.stats import queries
from warehouse.stats.queries import Filters, Window

pytestmark = pytest.mark.integration

ROLLUPS_MIGRATION = 47


@pytest.fixture
def before_0047(settings: Settings) -> Iterator[Client]:
    """A warehouse migrated up to, not including, 0047: rollups without properties."""
    client = connect(settings)
    migrate(client, settings, [m for m in discover() if m.version < ROLLUPS_MIGRATION])
    yield client
    client.command(f"DROP DATABASE IF EXISTS {settings.warehouse_database}")


def old_delta(client: Client, view_id: str, minute_ms: int) -> None:
    """One attempt that played, rolled up before 0047 (view_deltas had no property)."""
    client.command(
        "INSERT INTO view_deltas (minute, view_id, version, cdn, country, asn, stream_type, attempts, plays, "
        "ended_views, active_samples) VALUES (toDateTime({m:Int64}), {v:String}, 1, 'cdn-a', 'NO', 64500, 'vod', "
        "1, 1, 1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])",
        parameters={"m": minute_ms // 1000, "v": view_id},
    )


def per_property(client: Client, table: str) -> dict[str, float]:
    """Attempts per property in a per-dimension rollup (qoe_minute or qoe_hour)."""
    rows = client.query(
        f"SELECT value, sum(attempts) FROM {table} WHERE dimension = 'property' GROUP BY value"
    ).result_rows
    return {str(value): float(n) for value, n in rows}


def test_0047_is_the_migration_that_rolls_up_by_property() -> None:
    assert [m.name for m in discover() if m.version == ROLLUPS_MIGRATION] == ["property_rollups"]


def test_old_rollups_are_the_default_propertys_and_new_ones_roll_up_per_property(
    settings: Settings, before_0047: Client
) -> None:
    client = before_0047
    now_minute = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    for i in range(2):
        old_delta(client, f"old-recent-{i}", now_minute - (10 + i) * MINUTE_MS)
    old_delta(client, "old-hours-ago", now_minute - 170 * MINUTE_MS)
    totals_before = client.query(
        "SELECT minute, sum(attempts) FROM qoe_minute WHERE dimension = 'all' GROUP BY minute ORDER BY minute"
    ).result_rows

    assert ROLLUPS_MIGRATION in [m.version for m in migrate(client, settings)]
    # The totals so far are the default property's, in both per-dimension rollups; the cube's and
    # the deltas' rows read the column's default.
    copied = client.query(
        "SELECT minute, sum(attempts) FROM qoe_minute WHERE dimension = 'property' AND value = 'default' "
        "GROUP BY minute ORDER BY minute"
    ).result_rows
    assert copied == totals_before and len(copied) == 3
    assert per_property(client, "qoe_minute") == {"default": 3}
    assert per_property(client, "qoe_hour") == {"default": 3}
    cube = client.query("SELECT property, sum(attempts) FROM qoe_minute_cube GROUP BY property").result_rows
    assert cube == [("default", 3)]
    deltas = client.query("SELECT DISTINCT property FROM view_deltas").result_rows
    assert deltas == [("default",)]

    store_views(
        client,
        [
            PropertyView("a-1", "brand-a"),
            PropertyView("a-2", "brand-a", cdn="cdn-b"),
            PropertyView("b-1", "brand-b"),
            PropertyView("keyless", None),  # a record without server.property: the default property
        ],
    )
    window = Window.last(240)  # whole hours from qoe_hour, the ragged ends from qoe_minute

    def attempts(**filters: str) -> int:
        return int(queries.overview(client, window, Filters(filters))["attempts"] or 0)

    assert attempts() == 7
    assert attempts(property="brand-a") == 2  # the per-dimension rollups (qoe_minute and qoe_hour)
    assert attempts(property="brand-b") == 1
    assert attempts(property="default") == 4  # the three rolled up before 0047, and the keyless one
    assert attempts(property="brand-c") == 0
    assert attempts(property="brand-a", cdn="cdn-b") == 1  # the cube
    assert attempts(property="default", country="NO") == 4  # the cube's rows from before 0047 too
    by_property = queries.breakdown(client, window, "property")
    assert {r["value"]: r["attempts"] for r in by_property} == {"default": 4, "brand-a": 2, "brand-b": 1}
    under_filter = queries.breakdown(client, window, "property", Filters({"cdn": "cdn-a"}))  # the cube
    assert {r["value"]: r["attempts"] for r in under_filter} == {"default": 4, "brand-a": 1, "brand-b": 1}
    by_cdn = queries.breakdown(client, window, "cdn", Filters({"property": "brand-a"}))
    assert {r["value"]: r["attempts"] for r in by_cdn} == {"cdn-a": 1, "cdn-b": 1}
    series = queries.timeseries(client, window, "attempts", "1m", Filters({"property": "brand-a"}))
    assert sum(p["value"] or 0 for p in series) == 2
    assert queries.dimension_values(client, window, "property") == ["default", "brand-a", "brand-b"]
    # The breakdown's and the overview's paths agree: every attempt has one property.
    assert per_property(client, "qoe_minute") == {"default": 4, "brand-a": 2, "brand-b": 1}
    assert per_property(client, "qoe_hour") == {"default": 4, "brand-a": 2, "brand-b": 1}


def test_the_columns_default_to_the_default_property_and_the_cube_keeps_properties_apart(
    warehouse: Client,
) -> None:
    rows = warehouse.query(
        "SELECT table, type, default_kind, default_expression FROM system.columns WHERE database = currentDatabase() "
        "AND table IN ('view_deltas', 'qoe_minute_cube') AND name = 'property' ORDER BY table"
    ).result_rows
    assert rows == [
        ("qoe_minute_cube", "LowCardinality(String)", "DEFAULT", "'default'"),
        ("view_deltas", "LowCardinality(String)", "DEFAULT", "'default'"),
    ]
    # In the cube's sorting key, so a merge never folds the cells of two properties together.
    key = warehouse.query(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'qoe_minute_cube'"
    ).result_rows[0][0]
    assert key.split(", ")[-1] == "property"
    store_views(warehouse, [PropertyView("a", "brand-a"), PropertyView("b", "brand-b")])
    warehouse.command("OPTIMIZE TABLE qoe_minute_cube FINAL")
    cube = warehouse.query(
        "SELECT property, sum(attempts) FROM qoe_minute_cube GROUP BY property ORDER BY property"
    ).result_rows
    assert cube == [("brand-a", 1), ("brand-b", 1)]
