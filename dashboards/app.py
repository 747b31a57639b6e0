"""The dashboards application: pages over the warehouse query layer."""

from __future__ import annotations

from types import ModuleType

import dash
from dash import Input, Output, dcc, html

from dashboards.data import DashboardData
from dashboards.pages import live, qoe, steering, views

PAGES: tuple[ModuleType, ...] = (live, qoe, views, steering)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 2rem; color: #1d2733; }
nav a { margin-right: 1.2rem; }
.tiles { display: flex; gap: 1rem; flex-wrap: wrap; }
.tile { border: 1px solid #d5dbe3; border-radius: 8px; padding: .8rem 1.2rem; min-width: 9rem; }
.tile-value { font-size: 1.6rem; font-weight: 600; }
.tile-label { color: #5b6776; font-size: .85rem; }
"""


def create_dashboards(data: DashboardData) -> dash.Dash:
    app = dash.Dash(__name__, title="QoE dashboards", suppress_callback_exceptions=True)
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + _CSS + "</style>")
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            html.Nav([dcc.Link(page.TITLE, href=page.PATH) for page in PAGES]),
            html.Div(id="page"),
        ]
    )
    pages = {page.PATH: page for page in PAGES}

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> html.Div:
        page = pages.get(pathname or "/")
        if page is None:
            return html.Div([html.H2("Not found"), html.P(f"No dashboard at {pathname}.")])
        layout: html.Div = page.layout()
        return layout

    for page in PAGES:
        page.register(app, data)
    return app
