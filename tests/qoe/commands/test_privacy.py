"""``qoe erase --viewer ID`` (qoe.commands.privacy): here, or on the running platform that holds the warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from foundation.settings import Settings
from qoe.cli import main
from tests.factories.privacy import Viewing, rows_holding, store_viewing
from warehouse import privacy

X, Y = "viewer-x-cli", "viewer-y-cli"
VIEWINGS = [Viewing(X, "view-x-cli", "ml-1"), Viewing(Y, "view-y-cli", "ml-1")]


@pytest.mark.integration
def test_erase_here_when_no_platform_holds_the_warehouse(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    store_viewing(warehouse, VIEWINGS)
    assert main(["erase", "--viewer", X, "--requested-by", "ticket-9", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["viewer_id_hash"], report["requested_by"]) == (privacy.viewer_hash(X), "ticket-9")
    assert report["rows_removed"]["beacon_events"] == 4 and report["rows_removed"]["views"] >= 1
    assert set(report["followups"]) == {"recommender"}
    assert rows_holding(warehouse, [X, "view-x-cli"]) == {}
    assert rows_holding(warehouse, [Y])["views"] >= 1


@pytest.fixture
def running_platform(host_settings: Settings, warehouse: Client, serve_platform: Callable[[FastAPI], str]) -> Settings:
    """The warehouse-side API served on QOE_INTERNAL_API_PORT, as the worker of ``qoe up`` serves it."""
    from qoe.api import create_api

    serve_platform(create_api(host_settings, warehouse))
    return host_settings


@pytest.mark.integration
def test_erase_asks_the_running_platform(
    running_platform: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    store_viewing(warehouse, VIEWINGS)
    assert main(["erase", "--viewer", X]) == 0
    err = capsys.readouterr().err
    assert "erasing there" in err and f"erased viewer sha256:{privacy.viewer_hash(X)}" in err
    assert "rows removed: beacon_events 4, view_deltas" in err
    assert "recommender: no model has been trained on this model store" in err
    assert X not in err  # named by its hash only
    assert rows_holding(warehouse, [X, "view-x-cli"]) == {}


@pytest.mark.integration
def test_an_unmigrated_warehouse_is_a_one_line_failure(
    platform_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from warehouse.client import connect

    empty = platform_env.warehouse_database + "_empty"
    monkeypatch.setenv("QOE_WAREHOUSE_DATABASE", empty)
    try:
        assert main(["erase", "--viewer", X]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "qoe migrate" in lines[0], lines
    finally:
        connect(platform_env).command(f"DROP DATABASE IF EXISTS {empty}")


@pytest.mark.parametrize("viewer", ["", "a b", "x" * 65, "ünicode"])
def test_a_viewer_id_players_cannot_send_is_refused(viewer: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["erase", "--viewer", viewer])
    assert exit_info.value.code == 2
    assert "a viewer id is 1 to 64 of" in capsys.readouterr().err
