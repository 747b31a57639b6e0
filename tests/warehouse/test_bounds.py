"""Resource bounds of warehouse reads: an expensive query or a warehouse that is away is answered
with a reason (503 with Retry-After, or 422), within the time bound, never a bare 500 or a hang."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from fastapi import APIRouter
from fastapi.testclient import TestClient

from foundation.settings import Settings
from warehouse.app import create_api
from warehouse.client import connect, query_bounds
from warehouse.deps import WarehouseDep
from warehouse.stats import api as stats_api

# What a too-broad request makes the warehouse do: far more than a second of work, or of memory.
LONG_QUERY = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 0"
LARGE_QUERY = "SELECT length(groupArray(number)) FROM numbers(50000000)"


def _expensive_router(sql: str) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/expensive")
    def expensive(client: WarehouseDep) -> dict[str, Any]:
        return {"rows": client.query(sql).result_rows}

    return router


class FailingClient:
    """A stand-in Client whose every query raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail


def _answer(error: Exception, path: str = "/v1/stats/overview") -> Any:
    settings = Settings(_env_file=None)
    app = create_api(settings, cast(Client, FailingClient(error)), [stats_api.router])
    return TestClient(app, raise_server_exceptions=False).get(path)


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (DatabaseError("Code: 159. TIMEOUT_EXCEEDED", code=159), 503, "ran past its time limit of 20 s"),
        (DatabaseError("Code: 160. TOO_SLOW", code=160), 503, "ran past its time limit"),
        (DatabaseError("Memory limit (for query) exceeded", code=241), 422, "needs more than its memory limit"),
        (DatabaseError("Memory limit (total) exceeded", code=241), 503, "short of memory"),
        (OperationalError("Error executing HTTP request"), 503, "warehouse is unavailable"),
    ],
)
def test_warehouse_failures_are_answered_with_a_reason(error: Exception, status: int, reason: str) -> None:
    response = _answer(error)
    assert response.status_code == status
    assert reason in response.json()["detail"]
    if status == 503:
        assert response.headers["retry-after"] == "5"


def test_other_warehouse_errors_stay_500_without_the_engine_s_message() -> None:
    response = _answer(DatabaseError("Code: 60. UNKNOWN_TABLE secret.table_name", code=60))
    assert response.status_code == 500
    assert response.json() == {"detail": "the warehouse query failed"}


def test_healthz_says_503_while_the_warehouse_is_away() -> None:
    response = _answer(OperationalError("connection refused"), "/healthz")
    assert response.status_code == 503


def test_bounds_come_from_the_settings_and_zero_means_none() -> None:
    assert query_bounds(Settings(_env_file=None)) == {"max_execution_time": 20.0, "max_memory_usage": 4_294_967_296}
    unbounded = Settings(_env_file=None, warehouse_max_execution_s=0, warehouse_max_memory_bytes=0)
    assert query_bounds(unbounded) == {}


# --- on the real engine ----------------------------------------------------------------------


@pytest.fixture
def tight(settings: Settings) -> Settings:
    return settings.model_copy(update={"warehouse_max_execution_s": 1.0, "warehouse_max_memory_bytes": 50_000_000})


@pytest.mark.integration
def test_a_query_past_its_time_bound_is_503_within_the_bound(tight: Settings) -> None:
    app = create_api(tight, connect(tight), [_expensive_router(LONG_QUERY)])
    response = TestClient(app, raise_server_exceptions=False).get("/v1/expensive")
    assert response.status_code == 503
    assert "time limit of 1 s" in response.json()["detail"]


@pytest.mark.integration
def test_a_query_past_its_memory_bound_is_422(tight: Settings) -> None:
    app = create_api(tight, connect(tight), [_expensive_router(LARGE_QUERY)])
    response = TestClient(app, raise_server_exceptions=False).get("/v1/expensive")
    assert response.status_code == 422
    assert "memory limit of 48 MiB" in response.json()["detail"]


@pytest.mark.integration
def test_an_unbounded_client_is_not_cut_and_both_see_the_same_data(tight: Settings) -> None:
    bounded, unbounded = connect(tight), connect(tight, bounded=False)
    assert bounded.get_client_setting("max_execution_time") == "1.0"
    assert unbounded.get_client_setting("max_execution_time") is None
    assert unbounded.query(LARGE_QUERY).result_rows == [(50_000_000,)]
    unbounded.command("CREATE TABLE IF NOT EXISTS bounds_probe (n UInt64) ENGINE = MergeTree ORDER BY n")
    bounded.insert("bounds_probe", [[n] for n in range(100_000)], column_names=["n"])  # inserts are not cut
    assert unbounded.query("SELECT count() FROM bounds_probe").result_rows == [(100_000,)]
    unbounded.command("DROP TABLE bounds_probe")


# --- a ClickHouse server that went away ----------------------------------------------------------


class FakeClickHouse(BaseHTTPRequestHandler):
    """Just enough of ClickHouse's HTTP interface for clickhouse-connect to connect: its version
    query answered, everything else an empty result."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        query = parse_qs(urlsplit(self.path).query).get("query", [""])[0] + body.decode("utf-8", "replace")
        payload = b"25.3.1.1\tUTC\n" if "version()" in query else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server_gone(tmp_path: Path) -> Iterator[Client]:
    """A client made while the server answered; then the server stops: its port refuses connections."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeClickHouse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = connect(Settings(_env_file=None, clickhouse_url=url, data_dir=tmp_path))
    server.shutdown()
    server.server_close()
    thread.join()
    yield client
    client.close()


@pytest.mark.parametrize("path", ["/v1/stats/overview", "/v1/stats/breakdown?dimension=cdn", "/v1/views/view-1"])
def test_the_stats_api_answers_503_with_retry_after_while_clickhouse_is_down(server_gone: Client, path: str) -> None:
    app = create_api(Settings(_env_file=None), server_gone, [stats_api.router])
    response = TestClient(app, raise_server_exceptions=False).get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "the warehouse is unavailable; retry later"}
