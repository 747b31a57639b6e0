"""``qoe erase --viewer ID`` (qoe.commands.privacy): here, or on the running platform that holds the warehouse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from foundation.broker import free_port
from foundation.settings import Settings
from qoe.cli import main
from tests.factories.access import ADMIN
from tests.factories.privacy import Viewing, rows_holding, store_viewing
from warehouse import privacy

X, Y = "viewer-x-cli", "viewer-y-cli"
VIEWINGS = [Viewing(X, "view-x-cli", "ml-1"), Viewing(Y, "view-y-cli", "ml-1")]


@pytest.fixture
def platform_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """QOE_* variables pointing ``qoe`` at this test's warehouse, with no platform answering."""
    monkeypatch.setenv("QOE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QOE_WAREHOUSE_DATABASE", settings.warehouse_database)
    monkeypatch.setenv("QOE_INTERNAL_API_PORT", str(free_port()))
    monkeypatch.setenv("QOE_ADMIN_TOKEN", str(ADMIN))  # the running platform's API registers it; commands present it
    return Settings(_env_file=None)


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
def running_platform(platform_env: Settings, warehouse: Client, tmp_path: Path) -> Iterator[Settings]:
    """The warehouse-side API served on QOE_INTERNAL_API_PORT, as the worker of ``qoe up`` serves it."""
    from foundation.servers import serve_asgi
    from qoe.api import create_api

    host_settings = platform_env.model_copy(update={"data_dir": tmp_path})
    server = serve_asgi("api", create_api(host_settings, warehouse), "127.0.0.1", platform_env.internal_api_port)
    try:
        wait_until_healthy(platform_env.resolved_internal_api_url())
        yield host_settings
    finally:
        server.stop()


def wait_until_healthy(url: str, timeout_s: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


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
