"""One client factory for both warehouses: a ClickHouse server, or chDB embedded in this process.

Both speak the same SQL through clickhouse-connect. chDB lets only one process open a data
directory, which is why the embedded stack keeps every warehouse user in one process (see
qoe.up).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings

log = logging.getLogger(__name__)

_embedded: dict[tuple[Path, str, tuple[tuple[str, Any], ...]], Client] = {}
_embedded_lock = threading.Lock()


def warehouse_dir(settings: Settings) -> Path:
    return settings.data_dir / "warehouse"


def connect(settings: Settings, database: str | None = None, *, bounded: bool = True, **kwargs: Any) -> Client:
    """A client on the configured warehouse and database (created if missing).

    A ``bounded`` client runs every query within :func:`query_bounds` (ClickHouse stops it with
    TIMEOUT_EXCEEDED or MEMORY_LIMIT_EXCEEDED). Inserts of rows are not cut by them; a job that
    knowingly runs longer (a large ``INSERT … SELECT`` backfill) asks for ``bounded=False``.

    Embedded clients are shared within the process, one per database and query settings: chDB
    serves one data directory per process, and each client there has a session of its own.
    """
    database = database or settings.warehouse_database
    if bounded:
        kwargs["settings"] = {**query_bounds(settings), **kwargs.get("settings", {})}
    if settings.clickhouse_url:
        options = {**clickhouse_tls_options(settings), **kwargs}
        admin = clickhouse_connect.get_client(dsn=settings.clickhouse_url, **options)
        admin.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
        return clickhouse_connect.get_client(dsn=settings.clickhouse_url, database=database, **options)
    path = warehouse_dir(settings).resolve()
    with _embedded_lock:
        key = (path, database, tuple(sorted(kwargs.get("settings", {}).items())))
        if key not in _embedded:
            path.mkdir(parents=True, exist_ok=True)
            admin = clickhouse_connect.get_client(interface="chdb", path=str(path))
            admin.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
            _embedded[key] = clickhouse_connect.get_client(
                interface="chdb", path=str(path), database=database, **kwargs
            )
        return _embedded[key]


def query_bounds(settings: Settings) -> dict[str, int | float]:
    """ClickHouse settings that bound one query's time and memory (0 in a setting: no bound)."""
    bounds = {
        "max_execution_time": settings.warehouse_max_execution_s,
        "max_memory_usage": settings.warehouse_max_memory_bytes,
    }
    return {name: value for name, value in bounds.items() if value}


def clickhouse_tls_options(settings: Settings) -> dict[str, Any]:
    """clickhouse-connect's TLS keyword arguments for the server at ``clickhouse_url``.

    clickhouse-connect ignores the URL's scheme: without ``secure`` it speaks https only on ports
    443 and 8443, so ``https://host/`` would go out as plain http on 8123. The scheme decides here.
    """
    options: dict[str, Any] = {}
    https = urlsplit(settings.clickhouse_url).scheme == "https"
    if https:
        options["secure"] = True
    if settings.clickhouse_ca_cert:
        if not https:
            raise ValueError("clickhouse_ca_cert is set, but clickhouse_url is not an https:// URL")
        options["ca_cert"] = settings.clickhouse_ca_cert
    if not settings.clickhouse_verify:
        log.warning("the ClickHouse server's certificate is not verified (QOE_CLICKHOUSE_VERIFY=false)")
        options["verify"] = False
    return options


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r} must be letters, digits and underscores")
    return name


def ping(client: Client) -> None:
    """Raises when the warehouse does not answer."""
    client.query("SELECT 1")
