"""The ways a command reaches the warehouse: here, or through a running platform that holds it.

``platform_env`` points ``qoe`` at this test's warehouse with no platform answering; a test that
wants one serves its API with ``serve_platform``, as the worker of ``qoe up`` serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from foundation.broker import free_port
from foundation.servers import ThreadedServer, serve_asgi
from foundation.settings import Settings
from tests.factories.access import ADMIN
from tests.factories.waiting import wait_for_answer


@pytest.fixture
def platform_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """QOE_* variables pointing ``qoe`` at this test's warehouse, with no platform answering."""
    monkeypatch.setenv("QOE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QOE_WAREHOUSE_DATABASE", settings.warehouse_database)
    monkeypatch.setenv("QOE_INTERNAL_API_PORT", str(free_port()))
    monkeypatch.setenv("QOE_ADMIN_TOKEN", str(ADMIN))  # the running platform's API registers it; commands present it
    return Settings(_env_file=None)


@pytest.fixture
def host_settings(platform_env: Settings, tmp_path: Path) -> Settings:
    """The running platform's settings: the same warehouse, a data directory (and model store) of its own."""
    return platform_env.model_copy(update={"data_dir": tmp_path})


@pytest.fixture
def serve_platform(platform_env: Settings) -> Iterator[Callable[[FastAPI], str]]:
    """Serves an API on QOE_INTERNAL_API_PORT until the test ends; returns its URL once it is healthy."""
    servers: list[ThreadedServer] = []

    def serve(app: FastAPI) -> str:
        servers.append(serve_asgi("api", app, "127.0.0.1", platform_env.internal_api_port))
        url = platform_env.resolved_internal_api_url()
        wait_for_answer(f"{url}/healthz", 30, poll_s=0.1)
        return url

    yield serve
    for server in servers:
        server.stop()
