"""The sign-in page (``/login``) and sign-out (``/logout``) of the dashboards.

The sign-in page is one document with its style inline: a visitor without a session may fetch
nothing else (:mod:`dashboards.auth`). Failed sign-ins count per user name and client address;
past ``QOE_DASHBOARDS_LOGIN_RATE_LIMIT`` the page answers 429 with Retry-After, before it checks
the password, so guessing costs the guesser time and the server no hashing.
"""

from __future__ import annotations

from flask import Flask, make_response, redirect, render_template_string, request, session, url_for
from flask_login import login_user, logout_user  # type: ignore[import-untyped]
from werkzeug.wrappers import Response

from dashboards.auth import (
    CSRF_FIELD,
    LOGIN_ENDPOINT,
    FailedSignIns,
    SessionUser,
    client_address,
    csrf_token,
    csrf_valid,
    local_path,
    signed_in,
)
from dashboards.data import DashboardData
from warehouse.users import NAME, verify_user

LOGOUT_ENDPOINT = "logout"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · QoE dashboards</title>
<style>
body { font-family: system-ui, sans-serif; color: #1d2733; display: grid; place-items: center; min-height: 90vh; }
main { border: 1px solid #d5dbe3; border-radius: 8px; padding: 1.5rem 2rem; min-width: 18rem; }
label { display: block; margin: .8rem 0; } input { display: block; width: 100%; padding: .4rem; margin-top: .2rem; }
button { margin-top: .6rem; padding: .4rem 1.2rem; } .message { color: #a12a2a; }
</style></head>
<body><main><h1>QoE dashboards</h1>
{% if message %}<p class="message" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="{{ action }}">
<input type="hidden" name="{{ csrf_field }}" value="{{ token }}">
{% if sign_in %}
<label>Name <input name="name" autocomplete="username" required autofocus value="{{ name }}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
{% else %}
<p>Sign out of the QoE dashboards?</p><button type="submit">Sign out</button>
{% endif %}
</form></main></body></html>
"""


def add_sign_in(server: Flask, data: DashboardData) -> None:
    """``/login`` and ``/logout`` on the dashboards' server."""
    failures = FailedSignIns(data.settings.dashboards_login_rate_limit)

    @server.route("/login", methods=["GET", "POST"], endpoint=LOGIN_ENDPOINT)
    def login() -> Response:
        target = local_path(request.args.get("next"))
        if request.method == "POST":
            return _sign_in(data, failures, target)
        return redirect(target) if signed_in() is not None else _sign_in_page(200, target)

    @server.route("/logout", methods=["GET", "POST"], endpoint=LOGOUT_ENDPOINT)
    def logout() -> Response:
        if request.method == "GET":  # a link may lead here; only the form's post signs out
            return _page(200, "Sign out", url_for(LOGOUT_ENDPOINT), sign_in=False)
        if not csrf_valid():
            return _page(400, "Sign out", url_for(LOGOUT_ENDPOINT), "The form had expired.", sign_in=False)
        logout_user()
        session.clear()
        return redirect(url_for(LOGIN_ENDPOINT))


def _sign_in(data: DashboardData, failures: FailedSignIns, target: str) -> Response:
    if not csrf_valid():
        return _sign_in_page(400, target, "The form had expired. Please sign in again.")
    typed = request.form.get("name", "").strip().lower()
    name = typed if NAME.fullmatch(typed) else ""  # anything else is no user, and no new counter either
    address = client_address(data.settings)
    wait = failures.retry_after(address, name)
    if wait is not None:
        page = _sign_in_page(429, target, f"Too many failed sign-ins. Try again in {wait} s.", name)
        page.headers["Retry-After"] = str(wait)
        return page
    user = verify_user(data.warehouse(), typed, request.form.get("password", ""))
    if user is None:
        failures.failed(address, name)
        return _sign_in_page(401, target, "Wrong name or password.", name)
    session.clear()  # a new session: nothing of the anonymous one (its form token) carries over
    login_user(SessionUser(user))
    session.permanent = True  # so it expires QOE_DASHBOARDS_SESSION_HOURS after sign-in
    csrf_token()  # made now: a page needing it later would re-sign the session and restart its lifetime
    return redirect(target)


def _sign_in_page(status: int, target: str, message: str = "", name: str = "") -> Response:
    action = url_for(LOGIN_ENDPOINT, next=target) if target != "/" else url_for(LOGIN_ENDPOINT)
    return _page(status, "Sign in", action, message, name=name, sign_in=True)


def _page(status: int, title: str, action: str, message: str = "", *, name: str = "", sign_in: bool) -> Response:
    html = render_template_string(
        _PAGE,
        title=title,
        action=action,
        message=message,
        name=name,
        sign_in=sign_in,
        csrf_field=CSRF_FIELD,
        token=csrf_token(),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response
