"""A local stack on real parts for integration tests and benchmarks.

Like ``qoe up`` but with free ports, a data directory of the caller's, and control over each
process (kill the worker, stop the broker), so tests can prove recovery on the real broker and
the real warehouse engine. The APIs need access tokens: the stack generates an admin token
(QOE_ADMIN_TOKEN, registered by the worker's warehouse API) and offers it as ``auth_headers``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx

from foundation.access import new_token, parse_token
from foundation.broker import EmbeddedBroker, free_port
from foundation.process import Child, spawn, stop_all, wait_ready
from foundation.settings import Settings
from foundation.topics import ensure_topics, platform_topics

FAST_REJOIN = {
    # Faust's defaults make a restarted worker wait ~2 minutes for its partitions (REFERENCE §8).
    "QOE_BROKER_SESSION_TIMEOUT_S": "6",
    "QOE_BROKER_HEARTBEAT_INTERVAL_S": "1",
    "QOE_BROKER_REBALANCE_TIMEOUT_S": "6",
}


class LocalStack:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, dashboards: bool = False) -> None:
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.broker = EmbeddedBroker(log_path=None)
        ports = {name: free_port() for name in ("api", "internal", "dashboards")}
        self.env = {
            **os.environ,
            **FAST_REJOIN,
            "QOE_ADMIN_TOKEN": str(new_token()),
            "QOE_DATA_DIR": str(data_dir),
            "QOE_API_PORT": str(ports["api"]),
            "QOE_INTERNAL_API_PORT": str(ports["internal"]),
            "QOE_DASHBOARDS_PORT": str(ports["dashboards"]),
            **(env or {}),
        }
        self.settings = Settings(_env_file=None, **_settings_fields(self.env))
        self.with_dashboards = dashboards
        self.worker: Child | None = None
        self.ingest: Child | None = None

    @property
    def admin_token(self) -> str:
        """The stack's admin token, ``qoe_<id>_<secret>`` (QOE_ADMIN_TOKEN, unless the caller's env set another)."""
        assert self.settings.admin_token is not None
        return self.settings.admin_token.get_secret_value()

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers presenting the admin token: for reading the APIs in tests and benchmarks."""
        return parse_token(self.admin_token).bearer

    @property
    def gateway(self) -> str:
        return f"http://{self.settings.host}:{self.settings.api_port}"

    @property
    def internal_api(self) -> str:
        return self.settings.resolved_internal_api_url()

    @property
    def dashboards_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.dashboards_port}"

    def start(self) -> LocalStack:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env["QOE_KAFKA_BOOTSTRAP"] = self.broker.start()
        ensure_topics(self.broker.bootstrap, platform_topics(self.settings))
        self.start_worker()
        self.ingest = spawn("ingest", ["ingest"], self.env, self.logs)
        wait_ready([f"{self.gateway}/healthz"], [self.ingest], 60)
        return self

    def start_worker(self) -> None:
        args = ["worker", "--api"] + (["--dashboards"] if self.with_dashboards else [])
        self.worker = spawn("worker", args, self.env, self.logs)
        wait_ready([f"{self.internal_api}/healthz"], [self.worker], 90)

    def kill_worker(self) -> None:
        """SIGKILL: no flush, no offset commit, no goodbye to the consumer group."""
        assert self.worker is not None
        self.worker.process.send_signal(signal.SIGKILL)
        self.worker.process.wait()

    def summary(self) -> dict[str, Any]:
        response = httpx.get(f"{self.internal_api}/v1/events/summary", headers=self.auth_headers, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        stop_all([child for child in (self.ingest, self.worker) if child is not None])
        self.broker.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _settings_fields(env: dict[str, str]) -> dict[str, Any]:
    prefix = "QOE_"
    fields = Settings.model_fields
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix) and k[4:].lower() in fields}
