"""The steering dashboard page: its tables from the gateway's board and the decision log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import dash
import httpx
import pandas as pd
import pytest

from dashboards.data import DashboardData
from dashboards.pages import steering
from foundation.access import new_token
from foundation.settings import Settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


def test_score_rows_put_coarse_groups_first_and_round() -> None:
    scores = [
        {"cdn": "cdn-a", "group": "NO/2119/mobile/live", "views": 40, "qoe_score": 71.234, "rebuffering_ratio": 0.01234,
         "vst_p50_ms": 812.4, "avg_bitrate_kbps": 3012.6, "window_end": "2026-09-21T20:00:00+00:00",
         "throughput_ratio_p50": 0.98},
        {"cdn": "cdn-b", "group": "*/*/*/*", "views": 400, "qoe_score": 80.0, "rebuffering_ratio": 0.0,
         "vst_p50_ms": 700.0, "avg_bitrate_kbps": 4000.0, "window_end": "2026-09-21T20:00:00+00:00"},
    ]  # fmt: skip
    rows = steering.score_rows(scores)
    assert list(rows["group"]) == ["*/*/*/*", "NO/2119/mobile/live"]
    first = rows.iloc[1]
    assert first["qoe"] == 71.2 and first["rebuffering %"] == 1.23 and first["bitrate kb/s"] == 3013
    assert steering.score_rows([]).empty


def test_decision_and_priority_rows_read_the_warehouse_frames() -> None:
    at = datetime(2026, 9, 21, 20, 0, tzinfo=UTC)
    recent = pd.DataFrame(
        {
            "decided_at": [at],
            "group_key": ["NO/*/*/*"],
            "from_pathway": ["cdn-a"],
            "to_pathway": ["cdn-b"],
            "priority": [["cdn-b", "cdn-a"]],
            "reason_code": ["degraded"],
            "reason_text": ["cdn-a's viewers get 30% of their usual throughput"],
        }
    )
    rows = steering.decision_rows(recent)
    assert rows.iloc[0]["priority"] == "cdn-b > cdn-a" and rows.iloc[0]["reason"] == "degraded"
    current = pd.DataFrame(
        {
            "instance": ["gateway"],
            "group_key": ["NO/*/*/*"],
            "priority": [["cdn-b", "cdn-a"]],
            "reason_code": ["degraded"],
            "last_decided_at": [at],
            "changes": [3],
        }
    )
    assert steering.priority_rows(current).iloc[0]["changes"] == 3
    assert steering.decision_rows(pd.DataFrame()).empty and steering.priority_rows(pd.DataFrame()).empty


def test_the_page_lays_out_its_three_tables() -> None:
    text = str(steering.layout())
    for table in ("steering-scores", "steering-priorities", "steering-decisions"):
        assert table in text


SCORE = {"cdn": "cdn-b", "group": "*/*/*/*", "views": 400, "qoe_score": 80.0, "rebuffering_ratio": 0.0,
         "vst_p50_ms": 700.0, "avg_bitrate_kbps": 4000.0, "window_end": "2026-09-21T20:00:00+00:00"}  # fmt: skip
OUTPUTS = [
    ("steering-status", "children"),
    ("steering-scores", "data"),
    ("steering-scores", "columns"),
    ("steering-priorities", "data"),
    ("steering-priorities", "columns"),
    ("steering-decisions", "data"),
    ("steering-decisions", "columns"),
]


def expected_auth(settings: Settings) -> str:
    assert settings.admin_token is not None
    return f"Bearer {settings.admin_token.get_secret_value()}"


def refresh_page(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], dict[str, Any]]:
    """Runs the page's refresh callback as the browser does; returns the URLs it asked and its outputs."""
    asked: list[str] = []

    def get(url: str, headers: dict[str, str] | None = None, **_: Any) -> httpx.Response:
        asked.append(url)
        if settings.admin_token and (headers or {}).get("Authorization") != expected_auth(settings):
            return httpx.Response(401, json={"detail": "no token"}, request=httpx.Request("GET", url))
        return httpx.Response(200, json={"scores": [SCORE]}, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)
    page = "dashboards.pages.steering.decisions"  # the decision log: none, as on a fresh warehouse
    monkeypatch.setattr(f"{page}.recent_decisions", lambda client, minutes: pd.DataFrame())
    monkeypatch.setattr(f"{page}.current_priorities", lambda client: pd.DataFrame())
    app = dash.Dash(__name__)
    app.layout = steering.layout()
    steering.register(app, DashboardData(settings, lambda: cast("Client", None)))
    payload = {
        "output": next(key for key in app.callback_map if "steering-status.children" in key),
        "outputs": [{"id": component, "property": prop} for component, prop in OUTPUTS],
        "inputs": [{"id": "steering-refresh", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["steering-refresh.n_intervals"],
        "state": [],
    }
    response = app.server.test_client().post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.text
    return asked, response.get_json()["response"]


def test_the_page_reads_live_figures_from_the_configured_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in Kubernetes: the dashboards listen on 0.0.0.0, and the gateway is another Service.
    settings = Settings(_env_file=None, host="0.0.0.0", gateway_url="http://qoe-ingest:8000")
    asked, outputs = refresh_page(settings, monkeypatch)
    assert asked == ["http://qoe-ingest:8000/v1/steering/scores"]
    assert outputs["steering-status"]["children"] == "live figures from the gateway's steering board"
    assert [row["cdn"] for row in outputs["steering-scores"]["data"]] == ["cdn-b"]


def test_without_a_gateway_url_the_page_asks_the_local_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    asked, _ = refresh_page(Settings(_env_file=None, host="127.0.0.1", api_port=8123), monkeypatch)
    assert asked == ["http://127.0.0.1:8123/v1/steering/scores"]


def test_the_page_presents_the_admin_token_the_board_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    token = str(new_token())
    settings = Settings(_env_file=None, gateway_url="http://qoe-ingest:8000", admin_token=token)
    _, outputs = refresh_page(settings, monkeypatch)
    assert outputs["steering-status"]["children"] == "live figures from the gateway's steering board"


def test_an_unreachable_gateway_is_a_status_line_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, **_: Any) -> httpx.Response:
        raise httpx.ConnectError("refused", request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", refuse)
    scores, status = steering.board_scores("http://qoe-ingest:8000")
    assert scores == [] and status == "the gateway's steering board is unavailable (ConnectError)"
