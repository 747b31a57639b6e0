"""The migration ledger: moving the files under warehouse/ changed nothing an existing data directory sees."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from warehouse.client import connect
from warehouse.migrations import applied, discover, migrate

REPO = Path(__file__).resolve().parents[2]
# (version, name, checksum) of every migration as `schema_migrations` holds them in data directories
# migrated before the files moved from streams/, delivery/ and recommender/ to warehouse/migrations/.
LEDGER_BEFORE_THE_MOVE = [
    (1, "beacon_events", "26c96f2bcf3f93ad"),
    (2, "views", "fb7e9bca71b5a25e"),
    (3, "view_deltas", "240bfe558096ae23"),
    (4, "concurrency_samples", "1fad0c544fc1663f"),
    (5, "qoe_hour", "372029ffdf768f76"),
    (6, "views_viewer_index", "967b9d3adf8ed262"),
    (7, "beacon_events_parse_once", "8bccacd26c040ed1"),
    (20, "steering_decisions", "dff1639e12c28151"),
    (30, "catalog", "2e4007b93846a1ad"),
]


def test_the_moved_files_keep_their_versions_names_and_checksums() -> None:
    found = [(m.version, m.name, m.checksum) for m in discover()]
    assert found[: len(LEDGER_BEFORE_THE_MOVE)] == LEDGER_BEFORE_THE_MOVE


def test_the_migrations_ship_with_the_package() -> None:
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.sql" in package_data["*"]
    assert (REPO / "warehouse" / "migrations" / "__init__.py").is_file()  # a package, so its data ships


@pytest.mark.integration
def test_a_data_directory_migrated_before_the_move_gets_nothing_new(settings: Settings) -> None:
    client = connect(settings)
    migrate(client, settings, migrations=[])  # the ledger table only
    # Its tables, as those migrations made them, for the migrations added since to alter.
    for migration in discover():
        if migration.version <= LEDGER_BEFORE_THE_MOVE[-1][0]:
            for statement in migration.statements(settings):
                client.command(statement)
    client.insert(
        "schema_migrations",
        [
            [version, name, checksum, datetime(2026, 9, 1, tzinfo=UTC)]
            for version, name, checksum in LEDGER_BEFORE_THE_MOVE
        ],
        column_names=["version", "name", "checksum", "applied_at"],
    )
    try:
        assert [m.version for m in migrate(client, settings)] == [
            m.version for m in discover() if m.version > LEDGER_BEFORE_THE_MOVE[-1][0]
        ]
    finally:
        client.command(f"DROP DATABASE IF EXISTS {settings.warehouse_database}")


@pytest.mark.integration
def test_migrating_twice_applies_nothing_the_second_time(warehouse: Client, settings: Settings) -> None:
    assert applied(warehouse) == {m.version: m.checksum for m in discover()}
    assert migrate(warehouse, settings) == []
