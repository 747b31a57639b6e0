"""Live traffic: events per minute and active views by CDN, refreshed every few seconds."""

from __future__ import annotations

from typing import Any

import dash
import plotly.express as px
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards.auth import viewer_property
from dashboards.data import DashboardData
from warehouse import events as raw

PATH = "/"
TITLE = "Live traffic"
REFRESH_MS = 3000
WINDOW_MINUTES = 30


def layout() -> html.Div:
    return html.Div(
        [
            html.H2(TITLE),
            html.Div(id="live-tiles", className="tiles"),
            dcc.Graph(id="live-events-per-minute"),
            dcc.Graph(id="live-views-by-cdn"),
            dcc.Interval(id="live-refresh", interval=REFRESH_MS),
        ]
    )


def _tile(label: str, value: str) -> html.Div:
    return html.Div(
        [html.Div(value, className="tile-value"), html.Div(label, className="tile-label")], className="tile"
    )


def _empty(title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, annotations=[{"text": "no data yet", "showarrow": False}])
    return figure


def register(app: dash.Dash, data: DashboardData) -> None:
    @app.callback(
        Output("live-tiles", "children"),
        Output("live-events-per-minute", "figure"),
        Output("live-views-by-cdn", "figure"),
        Input("live-refresh", "n_intervals"),
    )
    def refresh(_: Any) -> tuple[list[html.Div], go.Figure, go.Figure]:
        client = data.warehouse()
        bound = viewer_property()
        summary = raw.event_summary(client, minutes=1, property_id=bound)
        tiles = [
            _tile("events in the last minute", f"{summary['rows']:,}"),
            _tile("views active in the last minute", f"{summary['views']:,}"),
        ]
        if bound:  # the per-minute rollups are the deployment's, not per property
            note = f"Per-minute charts cover every property; this account reads {bound} only."
            return tiles, _empty(note), _empty(note)
        events = raw.events_per_minute(client, WINDOW_MINUTES)
        views = raw.active_views_by_cdn(client, WINDOW_MINUTES)
        events_figure = (
            px.bar(events, x="minute", y="events", color="type", title="Events per minute")
            if not events.empty
            else _empty("Events per minute")
        )
        views_figure = (
            px.line(views, x="minute", y="views", color="cdn", title="Active views by CDN", markers=True)
            if not views.empty
            else _empty("Active views by CDN")
        )
        return tiles, events_figure, views_figure
