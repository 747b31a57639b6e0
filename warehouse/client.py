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

from qoe.settings import Settings

_embedded: dict[Path, Client] = {}
_embedded_lock = threading.Lock()


def warehouse_dir(settings: Settings) -> Path:
    return settings.data_dir / "warehouse"


def connect(settings: Settings, **kwargs: Any) -> Client:
    """A client on the configured warehouse. Embedded clients are shared within the process."""
    if settings.clickhouse_url:
        return clickhouse_connect.get_client(dsn=settings.clickhouse_url, **kwargs)
    path = warehouse_dir(settings).resolve()
    with _embedded_lock:
        if path not in _embedded:
            path.mkdir(parents=True, exist_ok=True)
            _embedded[path] = clickhouse_connect.get_client(interface="chdb", path=str(path), **kwargs)
        return _embedded[path]
