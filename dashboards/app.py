"""The dashboards application: pages over the warehouse query layer, for signed-in users only
(:mod:`dashboards.auth`)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboards import admin
from dashboards.auth import CSRF_FIELD, csrf_token, ensure_bootstrap_admin, install_sessions, signed_in
from dashboards.data import DashboardData
from dashboards.login import LOGOUT_ENDPOINT, add_sign_in
from dashboards.pages import live, qoe, steering, views

PAGES: tuple[ModuleType, ...] = (live, qoe, views, steering)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 2rem; color: #1d2733; }
nav a { margin-right: 1.2rem; }
.tiles { display: flex; gap: 1rem; flex-wrap: wrap; }
.tile { border: 1px solid #d5dbe3; border-radius: 8px; padding: .8rem 1.2rem; min-width: 9rem; }
.tile-value { font-size: 1.6rem; font-weight: 600; }
.tile-label { color: #5b6776; font-size: .85rem; }
nav { display: flex; align-items: baseline; gap: .4rem; }
.account { margin-left: auto; color: #5b6776; } .signout { display: inline; }
"""


def create_dashboards(data: DashboardData) -> dash.Dash:
    """The app; with QOE_DASHBOARDS_ADMIN_PASSWORD set, it first ensures the user ``admin``."""
    ensure_bootstrap_admin(data)
    app = dash.Dash(__name__, title="QoE dashboards", suppress_callback_exceptions=True, health_endpoint="healthz")
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + _CSS + "</style>")
    install_sessions(app.server, data)
    add_sign_in(app.server, data)
    admin.add_admin_page(app.server, data)
    app.layout = _layout  # a function: Dash calls it on each page load, so the account bar is the viewer's
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


def _layout() -> html.Div:
    links = [dcc.Link(page.TITLE, href=page.PATH) for page in PAGES]
    return html.Div([dcc.Location(id="url"), html.Nav([*links, *_account()]), html.Div(id="page")])


def _account() -> list[Any]:
    """Who is signed in, the admin page for admins, and the sign-out form (a post with the token)."""
    session_user = signed_in()
    if session_user is None:  # Dash also calls the layout once at start, outside any request
        return []
    user = session_user.user
    sign_out = html.Form(
        [dcc.Input(type="hidden", name=CSRF_FIELD, value=csrf_token()), html.Button("Sign out", type="submit")],
        action=f"/{LOGOUT_ENDPOINT}",
        method="POST",
        className="signout",
    )
    admin_link = [html.A("Admin", href=admin.PATH)] if user.is_admin else []
    return [html.Span(f"{user.name} ({user.role})", className="account"), *admin_link, sign_out]
