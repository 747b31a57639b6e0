"""``qoe properties`` (qoe.commands.properties): here, or through the running platform that holds the warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from foundation.access import Scope, TokenVerifier
from foundation.properties import valid_property_key
from foundation.settings import Settings
from qoe.cli import main
from tests.factories.access import ADMIN
from warehouse.access import ensure_token, load_tokens
from warehouse.app import create_api
from warehouse.properties import list_properties
from warehouse.properties_api import properties_router


@pytest.fixture
def running_platform(platform_env: Settings, warehouse: Client, serve_platform: Callable[[FastAPI], str]) -> str:
    """The property routes behind the access tokens, served as the worker of ``qoe up`` serves its API."""
    ensure_token(warehouse, ADMIN, "test admin", frozenset({Scope.ADMIN}), "test")
    tokens = TokenVerifier(lambda: load_tokens(warehouse))
    return serve_platform(create_api(platform_env, warehouse, [properties_router()], tokens=tokens))


def exercise(warehouse: Client, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """create, list, revoke, and the refusals; returns what the commands wrote to stderr, and who created."""
    argv = ["properties", "create", "--id", "web", "--name", "web player", "--origin", "https://*.example.com"]
    assert main(argv) == 0
    created = capsys.readouterr()
    key = created.out.strip()
    assert valid_property_key(key) and "property web ('web player', https://*.example.com)" in created.err
    [stored] = list_properties(warehouse)
    assert (stored.key, stored.origins) == (key, ("https://*.example.com",))

    assert main(["properties", "create", "--id", "ios-app", "--name", "iOS app", "--json"]) == 0
    app = json.loads(capsys.readouterr().out)
    assert valid_property_key(app["key"]) and app["origins"] == [] and app["active"]

    assert main(["properties", "list", "--json"]) == 0
    listed = {prop["property_id"]: prop for prop in json.loads(capsys.readouterr().out)["properties"]}
    assert listed["web"]["key"] == key and listed["ios-app"]["key"] == app["key"]
    assert main(["properties", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"web  {key}  'web player'  origins https://*.example.com") for line in lines)

    assert main(["properties", "create", "--id", "web", "--name", "again"]) == 1
    duplicate = capsys.readouterr().err
    assert "'web' exists" in duplicate

    assert main(["properties", "revoke", "web"]) == 0
    assert "property web ('web player') revoked" in capsys.readouterr().err
    states = {prop.property_id: prop.active for prop in list_properties(warehouse)}
    assert states == {"web": False, "ios-app": True}
    assert main(["properties", "revoke", "nobody"]) == 1
    missing = capsys.readouterr().err
    assert "no property 'nobody'" in missing
    return created.err + duplicate + missing, stored.created_by


@pytest.mark.integration
def test_properties_are_managed_here_when_no_platform_holds_the_warehouse(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    errors, created_by = exercise(warehouse, capsys)
    assert "asking it" not in errors and created_by.startswith("cli")


@pytest.mark.integration
def test_properties_are_managed_through_the_running_platform(
    running_platform: str, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    errors, created_by = exercise(warehouse, capsys)
    assert f"asking it ({running_platform})" in errors and created_by.startswith(f"token:{ADMIN.token_id}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["properties", "create", "--id", "Web", "--name", "x"], "a property id is"),
        (["properties", "create", "--id", "web"], "--name"),
        (["properties", "create", "--id", "web", "--name", "x", "--origin", "https://x.example/"], "an origin is"),
        (["properties", "revoke", "not a slug"], "a property id is"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
