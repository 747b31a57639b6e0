"""One client factory for both warehouses: a ClickHouse server, or chDB embedded in this process.

Both speak the same SQL through clickhouse-connect. chDB lets only one process open a data
directory, which is why the embedded stack keeps every warehouse user in one process (see
qoe.up).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings

_embedded: dict[tuple[Path, str], Client] = {}
_embedded_lock = threading.Lock()


def warehouse_dir(settings: Settings) -> Path:
    return settings.data_dir / "warehouse"


def connect(settings: Settings, database: str | None = None, **kwargs: Any) -> Client:
    """A client on the configured warehouse and database (created if missing).

    Embedded clients are shared within the process: chDB serves one data directory per process.
    """
    database = database or settings.warehouse_database
    if settings.clickhouse_url:
        admin = clickhouse_connect.get_client(dsn=settings.clickhouse_url, **kwargs)
        admin.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
        return clickhouse_connect.get_client(dsn=settings.clickhouse_url, database=database, **kwargs)
    path = warehouse_dir(settings).resolve()
    with _embedded_lock:
        if (path, database) not in _embedded:
            path.mkdir(parents=True, exist_ok=True)
            admin = clickhouse_connect.get_client(interface="chdb", path=str(path))
            admin.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
            _embedded[(path, database)] = clickhouse_connect.get_client(
                interface="chdb", path=str(path), database=database, **kwargs
            )
        return _embedded[(path, database)]


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r} must be letters, digits and underscores")
    return name


def ping(client: Client) -> None:
    """Raises when the warehouse does not answer."""
    client.query("SELECT 1")
