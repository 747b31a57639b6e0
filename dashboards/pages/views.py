"""View explorer: find a view, see its metrics and its event timeline.

Reads the same functions as ``GET /v1/views/{view_id}``: ``warehouse.views`` and ``warehouse.events``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import dash
import plotly.graph_objects as go
from clickhouse_connect.driver.client import Client
from dash import Input, Output, State, dcc, html
from dash.dash_table.DataTable import DataTable

from dashboards.auth import viewer_property
from dashboards.data import DashboardData
from warehouse import events as raw
from warehouse import views
from warehouse.stats.queries import Filters, Window

PATH = "/views"
TITLE = "View explorer"
SHOWN = (
    ("qoe_score", "QoE score", "{:.1f}"),
    ("vst_ms", "Startup time", "{:,.0f} ms"),
    ("watch_ms", "Watch time", "{:,.0f} ms"),
    ("stall_count", "Stalls", "{:,.0f}"),
    ("stall_ms", "Stall time", "{:,.0f} ms"),
    ("rebuffer_ratio", "Rebuffering ratio", "{:.2%}"),
    ("avg_bitrate_kbps", "Average bitrate", "{:,.0f} kbps"),
    ("upswitches", "Up-switches", "{:,.0f}"),
    ("downswitches", "Down-switches", "{:,.0f}"),
    ("upscale_pct", "Upscale", "{:.1f} %"),
)
FLAGS = ("attempt", "played", "closed", "ebvs", "vsf", "vsf_business", "vpf", "vpf_business")
EVENT_COLUMNS = ("seq", "server_time", "type", "playhead_ms", "details")


def layout() -> html.Div:
    return html.Div(
        [
            html.H2(TITLE),
            html.Div(
                [
                    dcc.Input(id="views-id", placeholder="view id", debounce=True, style={"minWidth": "24rem"}),
                    html.Button("Show", id="views-show"),
                ],
                className="tiles",
            ),
            html.Div(id="views-summary"),
            dcc.Graph(id="views-timeline"),
            DataTable(
                id="views-events",
                columns=[{"name": c, "id": c} for c in EVENT_COLUMNS],
                page_size=50,
                style_cell={"textAlign": "left"},
            ),
            html.H3("Recent views, lowest QoE first"),
            html.Div(id="views-recent"),
        ]
    )


def _tile(label: str, value: str) -> html.Div:
    return html.Div(
        [html.Div(value, className="tile-value"), html.Div(label, className="tile-label")], className="tile"
    )


def summary(view: dict[str, Any]) -> html.Div:
    flags = ", ".join(f for f in FLAGS if view[f]) or "none"
    where = f"{view['cdn']} · {view['country'] or '?'} · AS{view['asn']} · {view['device_type'] or '?'}"
    header = html.P(
        f"{view['view_id']} — {view['title_id'] or 'untitled'} on {view['player_name'] or 'a player'} ({where}); "
        f"flags: {flags}; exit: {view['exit_reason'] or 'still open'}"
    )
    shown = [_tile(label, "–" if view[k] is None else fmt.format(view[k])) for k, label, fmt in SHOWN]
    return html.Div([header, html.Div(shown, className="tiles")])


def timeline_figure(events: list[dict[str, Any]]) -> go.Figure:
    """The playhead over time, with each event marked where it happened."""
    times = [e["server_time"] for e in events]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=times, y=[e["playhead_ms"] / 1000 for e in events], mode="lines", name="playhead"))
    figure.add_trace(
        go.Scatter(
            x=times,
            y=[e["playhead_ms"] / 1000 for e in events],
            mode="markers+text",
            text=[e["type"] for e in events],
            textposition="top center",
            name="events",
        )
    )
    figure.update_layout(title="Timeline", yaxis_title="playhead (s)", height=350, margin={"t": 40, "b": 30})
    return figure


def event_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = {"type", "seq", "ts", "playhead_ms", "server_time", "received_at"}
    return [
        {
            "seq": e["seq"],
            "server_time": e["server_time"],
            "type": e["type"],
            "playhead_ms": e["playhead_ms"],
            "details": ", ".join(f"{k}={v}" for k, v in e.items() if k not in base),
        }
        for e in events
    ]


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def recent(client: Client, bound: str = "") -> html.Ul:
    rows = views.recent_views(client, Window.last(60), Filters({"property": bound}) if bound else None)
    return html.Ul(
        [
            html.Li(
                [
                    dcc.Link(r["view_id"], href=f"{PATH}?view_id={r['view_id']}"),
                    f" — {r['title'] or '?'} on {r['cdn'] or '?'}, score {_score(r['qoe_score'])}",
                ]
            )
            for r in rows
        ]
        or [html.Li("no view started in the last hour")]
    )


def render(
    client: Client, view_id: str | None, bound: str = ""
) -> tuple[Any, go.Figure, list[dict[str, Any]], html.Ul]:
    """Summary, timeline and events of one view (or why there is none), plus the recent views;
    ``bound``: the one property the viewer reads (a view of another is "no view", as in the API)."""
    empty = go.Figure()
    if not view_id:
        return html.P("Enter a view id, or pick one below."), empty, [], recent(client, bound)
    view = views.view(client, view_id.strip(), property_id=bound)
    if view is None:
        return html.P(f"No view {view_id!r} (or it is not sessionized yet)."), empty, [], recent(client, bound)
    timeline = raw.timeline(client, view["view_id"], int(view["clock_offset_ms"]), property_id=bound)
    return summary(view), timeline_figure(timeline), event_rows(timeline), recent(client, bound)


def register(app: dash.Dash, data: DashboardData) -> None:
    @app.callback(Output("views-id", "value"), Input("url", "search"))
    def from_link(search: str | None) -> str:
        return parse_qs((search or "").lstrip("?")).get("view_id", [""])[0]

    @app.callback(
        Output("views-summary", "children"),
        Output("views-timeline", "figure"),
        Output("views-events", "data"),
        Output("views-recent", "children"),
        Input("views-show", "n_clicks"),
        Input("views-id", "value"),
        State("views-id", "value"),
    )
    def show(_: Any, view_id: str | None, __: Any) -> tuple[Any, go.Figure, list[dict[str, Any]], html.Ul]:
        return render(data.warehouse(), view_id, viewer_property())
