"""``qoe keys`` (qoe.commands.keys) on the warehouse here, when no running platform holds it."""

from __future__ import annotations

import json

import pytest
from clickhouse_connect.driver.client import Client

from foundation.access import parse_token
from foundation.broker import free_port
from foundation.settings import Settings
from qoe.cli import main
from warehouse.access import list_tokens, load_tokens
from warehouse.properties import create_property


@pytest.fixture
def platform_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """QOE_* variables pointing ``qoe`` at this test's warehouse, with no platform answering."""
    monkeypatch.setenv("QOE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QOE_WAREHOUSE_DATABASE", settings.warehouse_database)
    monkeypatch.setenv("QOE_INTERNAL_API_PORT", str(free_port()))
    return Settings(_env_file=None)


@pytest.mark.integration
def test_create_list_and_revoke_here(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--name", "grafana", "--scope", "read"]) == 0
    out, err = capsys.readouterr()
    token = parse_token(out.strip())
    assert "shown only now" in err and token.token_id in err
    [stored] = load_tokens(warehouse)
    assert stored.info.name == "grafana" and stored.info.created_by.startswith("cli")

    assert main(["keys", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["tokens"]
    assert (listed["token_id"], listed["scopes"], listed["active"]) == (token.token_id, ["read"], True)

    assert main(["keys", "revoke", token.token_id]) == 0
    assert "revoked" in capsys.readouterr().err
    assert load_tokens(warehouse) == [] and not list_tokens(warehouse)[0].active
    assert main(["keys", "revoke", "0123456789abcdef"]) == 1
    assert "no token 0123456789abcdef" in capsys.readouterr().err


@pytest.mark.integration
def test_a_read_token_bound_to_a_property_here(
    platform_env: Settings, warehouse: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--name", "brand", "--scope", "read", "--property", "brand-a"]) == 1
    assert "no active property 'brand-a'" in capsys.readouterr().err
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    assert main(["keys", "create", "--name", "brand", "--scope", "read", "--property", "brand-a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["property"] == "brand-a"
    assert main(["keys", "list"]) == 0
    assert "property brand-a" in capsys.readouterr().out


def test_generate_prints_a_fresh_token_that_parses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate"]) == 0
    first = parse_token(capsys.readouterr().out.strip())
    assert main(["keys", "generate"]) == 0
    assert parse_token(capsys.readouterr().out.strip()) != first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "--name", "x", "--scope", "write"], "invalid choice: 'write'"),
        (["keys", "create", "--name", "x"], "--scope"),
        (["keys", "revoke", "not-an-id"], "16 hex digits"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
