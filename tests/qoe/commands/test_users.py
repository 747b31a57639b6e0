"""``qoe users`` (qoe.commands.users): here, or through the running platform that holds the warehouse."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI
from pydantic import SecretStr

from foundation.access import Scope, TokenVerifier
from foundation.settings import Settings
from qoe.cli import main
from qoe.commands.users import admin_password_path, ensure_admin_password
from tests.factories.access import ADMIN
from warehouse.access import create_token, ensure_token, load_tokens
from warehouse.app import create_api
from warehouse.properties import create_property
from warehouse.users import find_user, verify_user
from warehouse.users_api import USERS_ROUTE, users_router


@pytest.fixture
def running_platform(platform_env: Settings, warehouse: Client, serve_platform: Callable[[FastAPI], str]) -> str:
    """The users' admin routes behind the access tokens, served as the worker of ``qoe up`` serves its API."""
    ensure_token(warehouse, ADMIN, "test admin", frozenset({Scope.ADMIN}), "test")
    tokens = TokenVerifier(lambda: load_tokens(warehouse))
    return serve_platform(create_api(platform_env, warehouse, [users_router()], tokens=tokens))


def exercise(warehouse: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """create (generated and from stdin), list, disable; returns what the commands wrote to stderr."""
    assert main(["users", "create", "--name", "ops", "--role", "admin"]) == 0
    created = capsys.readouterr()
    password = created.out.strip()
    assert len(password) >= 24 and "shown once" in created.err
    user = verify_user(warehouse, "ops", password)
    assert user is not None and user.is_admin and user.updated_by.startswith("cli")

    monkeypatch.setattr("sys.stdin", io.StringIO("a password from stdin\n"))
    assert main(["users", "create", "--name", "viewer", "--role", "read", "--password-stdin"]) == 0
    from_stdin = capsys.readouterr()
    assert from_stdin.out == "", "a password the operator gave is not printed"
    assert verify_user(warehouse, "viewer", "a password from stdin") is not None

    assert main(["users", "list"]) == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["ops", "admin", "enabled"], ["viewer", "read", "enabled"]]

    assert main(["users", "disable", "viewer"]) == 0
    assert verify_user(warehouse, "viewer", "a password from stdin") is None
    assert main(["users", "disable", "nobody"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "--name", "other", "--role", "read", "--password-stdin"]) == 1
    assert main(["users", "create", "--name", "Not Valid", "--role", "read"]) == 1
    return created.err + from_stdin.err + capsys.readouterr().err


@pytest.mark.integration
def test_users_are_managed_here_when_no_platform_holds_the_warehouse(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = exercise(warehouse, capsys, monkeypatch)
    assert "asking it" not in errors


@pytest.mark.integration
def test_users_are_managed_through_the_running_platform(
    running_platform: str,
    warehouse: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    errors = exercise(warehouse, capsys, monkeypatch)
    assert f"asking it ({running_platform})" in errors


def exercise_properties(warehouse: Client, capsys: pytest.CaptureFixture[str]) -> str:
    """A read user bound to a property, kept through a new password, listed, refused when it cannot be."""
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    assert main(["users", "create", "--name", "brand", "--role", "read", "--property", "brand-a"]) == 0
    bound = capsys.readouterr()
    assert "(read, property brand-a) saved" in bound.err
    assert verify_user(warehouse, "brand", bound.out.strip()) is not None
    assert main(["users", "create", "--name", "brand", "--role", "read"]) == 0, "a new password: property kept"
    kept = capsys.readouterr()
    assert "(read, property brand-a) saved" in kept.err
    user = verify_user(warehouse, "brand", kept.out.strip())
    assert user is not None and user.property_id == "brand-a"

    assert main(["users", "create", "--name", "everyone", "--role", "read"]) == 0
    assert "(read, every property) saved" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["name", "role", "state", "property"]
    assert [line.split()[:4] for line in rows] == [
        ["brand", "read", "enabled", "brand-a"],
        ["everyone", "read", "enabled", "*"],
    ]

    assert main(["users", "create", "--name", "other", "--role", "read", "--property", "brand-z"]) == 1
    unknown = capsys.readouterr()
    assert unknown.out == "", "no password is shown for a user that was not saved"
    assert main(["users", "create", "--name", "brand", "--role", "admin"]) == 1
    promoted = capsys.readouterr()
    assert main(["users", "create", "--name", "boss", "--role", "admin", "--property", "brand-a"]) == 1
    bound_admin = capsys.readouterr()
    assert find_user(warehouse, "other") is None and find_user(warehouse, "boss") is None
    found = find_user(warehouse, "brand")
    assert found is not None and (found.role, found.property_id) == ("read", "brand-a")

    assert main(["users", "create", "--name", "brand", "--role", "admin", "--property", ""]) == 0
    assert "(admin, every property) saved" in capsys.readouterr().err
    return unknown.err + promoted.err + bound_admin.err


def assert_property_refusals(errors: str) -> None:
    assert "no active property 'brand-z'" in errors
    assert "bound to property 'brand-a': unbind it" in errors
    assert "read role only" in errors


@pytest.mark.integration
def test_a_read_user_bound_to_a_property_here(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_property_refusals(exercise_properties(warehouse, capsys))


@pytest.mark.integration
def test_a_read_user_bound_to_a_property_through_the_running_platform(
    running_platform: str, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = exercise_properties(warehouse, capsys)
    assert_property_refusals(errors)
    assert "the platform refused the user: 422" in errors


@pytest.mark.integration
def test_the_users_routes_need_an_admin_token(running_platform: str, warehouse: Client) -> None:
    reader = create_token(warehouse, "reader", frozenset({Scope.READ}), "test").token
    assert httpx.get(f"{running_platform}{USERS_ROUTE}").status_code == 401
    time.sleep(1.5)  # the API sees a new token at its next reload of the tokens, within a second
    assert httpx.get(f"{running_platform}{USERS_ROUTE}", headers=reader.bearer).status_code == 403
    listed = httpx.get(f"{running_platform}{USERS_ROUTE}", headers=ADMIN.bearer)
    assert listed.status_code == 200 and listed.json() == {"users": []}


def test_a_role_outside_read_and_admin_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "create", "--name", "ops", "--role", "root"])
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_qoe_up_gets_one_admin_password_per_data_directory(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    password, where = ensure_admin_password(settings)
    assert len(password) >= 24 and where == str(admin_password_path(settings))
    assert admin_password_path(settings).stat().st_mode & 0o777 == 0o600
    assert ensure_admin_password(settings) == (password, where), "the next run signs in the same way"
    chosen = settings.model_copy(update={"dashboards_admin_password": SecretStr("an operator's choice")})
    assert ensure_admin_password(chosen) == ("an operator's choice", "QOE_DASHBOARDS_ADMIN_PASSWORD")
