"""Fixtures shared by every test: settings and the research data that CI always has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from foundation.settings import Settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or QOE_SHARED_DATA_DIR); skips the test with the reason when absent."""
    found = Settings(_env_file=None).resolved_shared_data()
    if found is None:
        found = REPO.parent / "shared" / "data"
    if not found.is_dir():
        pytest.skip(f"research data not found at {found}: set QOE_SHARED_DATA_DIR (CI always has it)")
    return found.resolve()


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chDB serves one data directory per process, so every in-process warehouse test shares this one."""
    return tmp_path_factory.mktemp("qoe-data")


# Test data sit on fixed dates (tests/factories: VIEW_EPOCH, T0) that fall ever further behind the
# calendar: a retention this long keeps the tables' TTLs (views, beacon_events, view_deltas) from
# deleting them in a background merge while a test runs.
TEST_RETENTION_DAYS = 3650


@pytest.fixture
def settings(embedded_data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings on the shared embedded warehouse, with a database of this test's own."""
    database = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60] + f"_{id(request) % 9973}"
    return Settings(
        _env_file=None, data_dir=embedded_data_dir, warehouse_database=database, raw_retention_days=TEST_RETENTION_DAYS
    )


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Client]:
    """A migrated, empty warehouse database on the real embedded engine."""
    from warehouse.client import connect
    from warehouse.migrations import migrate

    client = connect(settings)
    migrate(client, settings)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {settings.warehouse_database}")
