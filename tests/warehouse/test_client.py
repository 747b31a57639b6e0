"""warehouse/client.py: how a ClickHouse server is reached (TLS options from the settings)."""

from __future__ import annotations

import logging
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect import driver

from foundation.settings import Settings
from warehouse.client import clickhouse_tls_options, connect


def settings(url: str, **values: Any) -> Settings:
    return Settings(_env_file=None, clickhouse_url=url, **values)


def test_http_and_the_embedded_warehouse_get_no_tls_options() -> None:
    assert clickhouse_tls_options(Settings(_env_file=None)) == {}
    assert clickhouse_tls_options(settings("http://qoe:pw@clickhouse:8123")) == {}


def test_an_https_url_means_tls_whatever_its_port() -> None:
    assert clickhouse_tls_options(settings("https://qoe:pw@clickhouse.example.internal/qoe")) == {"secure": True}


def test_clickhouse_connect_ignores_the_scheme_without_secure() -> None:
    """Why the scheme is turned into ``secure``: the library picks https from the port alone."""
    dsn = "https://qoe:pw@clickhouse.example.internal/qoe"
    parse = driver._parse_connection_params  # the parser get_client runs first
    _, _, _, port, _, interface = parse(None, None, "", None, None, None, False, dsn, {})
    assert (interface, port) == ("http", 8123)
    _, _, _, port, _, interface = parse(None, None, "", None, None, None, True, dsn, {})
    assert (interface, port) == ("https", 8443)


def test_ca_cert_and_verification_pass_through(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://qoe:pw@clickhouse.example.internal:8443"
    assert clickhouse_tls_options(settings(url, clickhouse_ca_cert="/etc/qoe/clickhouse/ca.crt")) == {
        "secure": True,
        "ca_cert": "/etc/qoe/clickhouse/ca.crt",
    }
    with caplog.at_level(logging.WARNING, logger="warehouse.client"):
        assert clickhouse_tls_options(settings(url, clickhouse_verify=False)) == {"secure": True, "verify": False}
    assert "not verified" in caplog.text


def test_a_ca_cert_for_a_plain_http_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not an https:// URL"):
        clickhouse_tls_options(settings("http://qoe:pw@clickhouse:8123", clickhouse_ca_cert="/etc/ca.crt"))


class RecordingClient:
    def __init__(self, calls: list[dict[str, Any]], kwargs: dict[str, Any]) -> None:
        calls.append(kwargs)

    def command(self, sql: str) -> None:
        assert sql.startswith("CREATE DATABASE IF NOT EXISTS")


def test_connect_hands_the_tls_options_to_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(clickhouse_connect, "get_client", lambda **kwargs: RecordingClient(calls, kwargs))
    url = "https://qoe:pw@clickhouse.example.internal/qoe"
    connect(settings(url, clickhouse_ca_cert="/etc/ca.crt"), "qoe", query_limit=0)
    assert len(calls) == 2  # the admin client that creates the database, then the database's client
    for call in calls:
        assert call["dsn"] == url and call["secure"] is True and call["ca_cert"] == "/etc/ca.crt"
        assert call["query_limit"] == 0
    assert calls[1]["database"] == "qoe"
    # A caller's own argument wins over the settings'.
    calls.clear()
    connect(settings(url), "qoe", secure=False)
    assert [call["secure"] for call in calls] == [False, False]
