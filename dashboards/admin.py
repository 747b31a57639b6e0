"""The admin page (``/admin``): the API access tokens, to create and revoke, and the dashboards' users.

For users with the ``admin`` role only; any other signed-in user gets 403. It is a plain server
page rather than a Dash page, so that its data leaves the server only in answers that checked the
role first (Dash would send a page's callbacks to every signed-in browser). Each change is a form
post carrying the session's token (:func:`dashboards.auth.csrf_valid`); a new token's secret is
shown once, in the answer to the post that made it, never stored or sent again.

Tenancy: both tables show what each token and user reads, a bound one's property or "all
properties"; a new read token may be bound to an active property here as with ``qoe keys create
--property`` (:func:`warehouse.access.bindable_property`). Users are bound with ``qoe users``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, make_response, redirect, render_template_string, request, url_for
from werkzeug.wrappers import Response

from dashboards.auth import CSRF_FIELD, csrf_token, csrf_valid, forbidden, signed_in
from dashboards.data import DashboardData
from foundation.access import Scope, parse_scopes, valid_token_id
from warehouse.access import IssuedToken, bindable_property, create_token, list_tokens, revoke_token
from warehouse.users import DashboardUser, list_users

PATH = "/admin"
ENDPOINT = "admin"
MAX_TOKEN_NAME = 200

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Admin · QoE dashboards</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0 2rem; color: #1d2733; }
table { border-collapse: collapse; margin: .6rem 0 1.4rem; } th, td { padding: .3rem .8rem; text-align: left; }
th { border-bottom: 1px solid #d5dbe3; } .revoked, .every { color: #8a94a3; } .message { color: #a12a2a; }
.issued { border: 1px solid #2a7a3a; border-radius: 8px; padding: .6rem 1rem; } code { font-size: 1.05rem; }
form.inline { display: inline; }
</style></head>
<body><nav><a href="/">Dashboards</a> · signed in as {{ user.name }} (admin)</nav>
<h1>Admin</h1>
{% if message %}<p class="message" role="alert">{{ message }}</p>{% endif %}
{% if issued %}<div class="issued" id="issued"><p>New token <b>{{ issued.info.name }}</b> ({{ issued.info.token_id }}{%
if issued.info.property_id %}, property {{ issued.info.property_id }}{% endif %}).
Copy it now: it is not shown again.</p><p><code>{{ issued.token }}</code></p></div>{% endif %}
<h2>API access tokens</h2>
<table id="tokens"><tr><th>id</th><th>name</th><th>scopes</th><th>property</th><th>created</th><th>by</th>
<th>state</th><th></th></tr>
{% for token in tokens %}<tr class="{{ 'active' if token.active else 'revoked' }}">
<td>{{ token.token_id }}</td><td>{{ token.name }}</td><td>{{ token.scopes | sort | join(', ') }}</td>
{{ reads(token.property_id) }}
<td>{{ token.created_at.isoformat(timespec='seconds') }}</td><td>{{ token.created_by }}</td>
<td>{{ 'active' if token.active else 'revoked by ' ~ token.revoked_by }}</td>
<td>{% if token.active %}<form class="inline" method="post" action="{{ revoke_url(token.token_id) }}">
<input type="hidden" name="{{ csrf_field }}" value="{{ csrf }}"><button type="submit">Revoke</button></form>
{% endif %}</td>
</tr>{% endfor %}</table>
<form method="post" action="{{ create_url }}"><input type="hidden" name="{{ csrf_field }}" value="{{ csrf }}">
<label>New token for <input name="name" required maxlength="{{ max_name }}" placeholder="grafana"></label>
{% for scope in scopes %}<label><input type="checkbox" name="scope" value="{{ scope }}"> {{ scope }}</label>{% endfor %}
<label>for property <input name="property" maxlength="63" placeholder="all (read tokens only)"></label>
<button type="submit">Create</button></form>
<h2>Dashboards users</h2>
<p>Managed with <code>qoe users</code>.</p>
<table id="users"><tr><th>name</th><th>role</th><th>property</th><th>state</th><th>changed</th><th>by</th></tr>
{% for person in users %}<tr><td>{{ person.name }}</td><td>{{ person.role }}</td>{{ reads(person.property_id) }}
<td>{{ 'disabled' if person.disabled else 'enabled' }}</td>
<td>{{ person.updated_at.isoformat(timespec='seconds') }}</td><td>{{ person.updated_by }}</td></tr>{% endfor %}</table>
</body></html>
"""

View = Callable[..., Response]
# A property cell: the bound property, or every one (no property id has a space).
_READS = (
    '{% macro reads(property_id) %}{% if property_id %}<td class="property">{{ property_id }}</td>'
    '{% else %}<td class="every">all properties</td>{% endif %}{% endmacro %}'
)


def add_admin_page(server: Flask, data: DashboardData) -> None:
    """``/admin`` and its forms on the dashboards' server."""

    @server.get(PATH, endpoint=ENDPOINT)
    @_admins_only
    def page(user: DashboardUser) -> Response:
        return _render(data, user)

    @server.post(f"{PATH}/keys", endpoint="admin_create_token")
    @_admins_only
    def create(user: DashboardUser) -> Response:
        name = request.form.get("name", "").strip()
        try:
            scopes = parse_scopes(request.form.getlist("scope"))
        except ValueError as exc:
            return _render(data, user, status=422, message=str(exc))
        if not 0 < len(name) <= MAX_TOKEN_NAME:
            return _render(data, user, status=422, message=f"a token's name has 1 to {MAX_TOKEN_NAME} characters")
        client = data.warehouse()
        try:
            property_id = bindable_property(client, request.form.get("property", "").strip(), scopes)
        except ValueError as exc:
            return _render(data, user, status=422, message=str(exc))
        issued = create_token(client, name, scopes, _who(user), property_id=property_id)
        return _render(data, user, status=201, issued=issued)

    @server.post(f"{PATH}/keys/<token_id>/revoke", endpoint="admin_revoke_token")
    @_admins_only
    def revoke(user: DashboardUser, token_id: str) -> Response:
        found = revoke_token(data.warehouse(), token_id, _who(user)) if valid_token_id(token_id) else None
        if found is None:
            return _render(data, user, status=404, message=f"no token {token_id!r}")
        return redirect(url_for(ENDPOINT), code=303)  # after a post, a reload must not post again


def _admins_only(view: View) -> View:
    """The view, given the signed-in admin; 403 for other users, 400 for a post without the form token."""

    @wraps(view)
    def guarded(**kwargs: str) -> Response:
        session_user = signed_in()  # a session is there: every route but the public ones needs one
        if session_user is None or not session_user.user.is_admin:
            return forbidden()
        if request.method == "POST" and not csrf_valid():
            return _render_plain(400, "The form had expired: reload the page.")
        return view(session_user.user, **kwargs)

    return guarded


def _render(
    data: DashboardData, user: DashboardUser, *, status: int = 200, message: str = "", issued: IssuedToken | None = None
) -> Response:
    client = data.warehouse()
    html = render_template_string(
        _READS + _PAGE,
        user=user,
        message=message,
        issued=issued,
        tokens=list_tokens(client),
        users=list_users(client),
        scopes=[scope.value for scope in Scope],
        max_name=MAX_TOKEN_NAME,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(),
        create_url=url_for("admin_create_token"),
        revoke_url=lambda token_id: url_for("admin_revoke_token", token_id=token_id),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"  # a new token's secret must not linger in a cache
    return response


def _render_plain(status: int, message: str) -> Response:
    response = make_response(message, status)
    response.mimetype = "text/plain"
    return response


def _who(user: DashboardUser) -> str:
    return f"dashboards:{user.name}"
