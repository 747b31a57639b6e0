"""Content steering: the live CDN figures, each group's current priority, and the recent decisions.

The figures come from the gateway's steering board (``GET /v1/steering/scores``: what the
steering service decides on right now), asked at ``QOE_GATEWAY_URL`` (in a deployment the
gateway's Service, not the dashboards' own host); priorities and decisions from
``steering_decisions`` in the warehouse (every priority change, with its reason and the figures
behind it).
"""

from __future__ import annotations

from typing import Any

import dash
import httpx
import pandas as pd
from dash import Input, Output, dcc, html
from dash.dash_table.DataTable import DataTable

from dashboards.data import DashboardData
from foundation.access import admin_headers
from warehouse import steering as decisions

PATH = "/steering"
TITLE = "Steering"
REFRESH_MS = 3000
DECISION_MINUTES = 60


def layout() -> html.Div:
    return html.Div(
        [
            html.H2(TITLE),
            html.P(id="steering-status"),
            html.H3("CDN figures on the steering board"),
            DataTable(id="steering-scores", page_size=15, sort_action="native"),
            html.H3("Current priority per group"),
            DataTable(id="steering-priorities", page_size=15, sort_action="native"),
            html.H3(f"Priority changes, last {DECISION_MINUTES} minutes"),
            DataTable(id="steering-decisions", page_size=20, style_cell={"whiteSpace": "normal"}),
            dcc.Interval(id="steering-refresh", interval=REFRESH_MS),
        ]
    )


def _table(frame: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    rows = [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return rows, [{"name": str(c), "id": str(c)} for c in frame.columns]


def score_rows(scores: list[dict[str, Any]]) -> pd.DataFrame:
    """The board's figures, coarsest groups first, rounded for reading."""
    if not scores:
        return pd.DataFrame(columns=["group", "cdn", "views", "qoe", "rebuffering %", "vst p50 ms", "bitrate kb/s"])
    frame = pd.DataFrame(scores)
    frame["depth"] = frame["group"].str.count(r"\*")
    frame = frame.sort_values(["depth", "group", "cdn"], ascending=[False, True, True])
    return pd.DataFrame(
        {
            "group": frame["group"],
            "cdn": frame["cdn"],
            "views": frame["views"],
            "qoe": frame["qoe_score"].round(1),
            "rebuffering %": (frame["rebuffering_ratio"] * 100).round(2),
            "vst p50 ms": frame["vst_p50_ms"].round(0),
            "bitrate kb/s": frame["avg_bitrate_kbps"].round(0),
            "throughput ratio": frame.get("throughput_ratio_p50", pd.Series(dtype=float)),
            "window end": frame["window_end"],
        }
    )


def decision_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["decided at", "group", "from", "to", "reason", "why"])
    return pd.DataFrame(
        {
            "decided at": frame["decided_at"].astype(str),
            "group": frame["group_key"],
            "from": frame["from_pathway"],
            "to": frame["to_pathway"],
            "priority": frame["priority"].map(lambda p: " > ".join(p)),
            "reason": frame["reason_code"],
            "why": frame["reason_text"],
        }
    )


def priority_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["group", "priority", "reason", "since", "changes"])
    return pd.DataFrame(
        {
            "replica": frame["instance"],
            "group": frame["group_key"],
            "priority": frame["priority"].map(lambda p: " > ".join(p)),
            "reason": frame["reason_code"],
            "since": frame["last_decided_at"].astype(str),
            "changes": frame["changes"],
        }
    )


def board_scores(gateway: str, headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str]:
    """The figures on the steering board of the gateway at ``gateway``, and a status line.

    ``headers`` carry the token the board asks for: the dashboards present the platform's admin
    token (QOE_ADMIN_TOKEN), having the warehouse itself at hand anyway."""
    try:
        response = httpx.get(f"{gateway}/v1/steering/scores", headers=headers, timeout=2)
        response.raise_for_status()
        scores: list[dict[str, Any]] = response.json()["scores"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return [], f"the gateway's steering board is unavailable ({type(exc).__name__})"
    return scores, "live figures from the gateway's steering board"


def register(app: dash.Dash, data: DashboardData) -> None:
    gateway = data.settings.resolved_gateway_url()
    headers = admin_headers(data.settings)

    @app.callback(
        Output("steering-status", "children"),
        Output("steering-scores", "data"),
        Output("steering-scores", "columns"),
        Output("steering-priorities", "data"),
        Output("steering-priorities", "columns"),
        Output("steering-decisions", "data"),
        Output("steering-decisions", "columns"),
        Input("steering-refresh", "n_intervals"),
    )
    def refresh(_: Any) -> tuple[Any, ...]:
        scores, status = board_scores(gateway, headers)
        client = data.warehouse()
        recent = decisions.recent_decisions(client, DECISION_MINUTES)
        current = decisions.current_priorities(client)
        return (
            status,
            *_table(score_rows(scores)),
            *_table(priority_rows(current)),
            *_table(decision_rows(recent)),
        )
