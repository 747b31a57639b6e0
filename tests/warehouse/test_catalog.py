"""Reads of the title catalogue (warehouse.catalog) on the real engine; loading it is tested in tests/recommender."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from warehouse import catalog

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

pytestmark = pytest.mark.integration


def test_durations_come_from_the_catalogue(warehouse: Client) -> None:
    names = ["title_id", "title", "source_title", "genres", "duration_ms", "source", "version"]
    warehouse.insert(
        "catalog_titles",
        [["t1", "T", "T", [], 5_400_000, "test", 1], ["t2", "U", "U", [], None, "test", 1]],
        column_names=names,
    )
    assert catalog.catalog_durations(warehouse) == {"t1": 5_400_000.0}
    assert catalog.catalog_durations(warehouse, ["t2"]) == {}


def test_an_empty_catalogue_answers_empty_reads(warehouse: Client) -> None:
    assert catalog.latest_catalog_checksum(warehouse) is None
    assert catalog.search_titles(warehouse, "toy", "", 10, 0) == ([], 0)
    assert catalog.titles_by_id(warehouse, ["ml-1"]) == {}
    assert catalog.catalog_genres(warehouse) == []
    assert catalog.catalog_durations(warehouse) == {}
