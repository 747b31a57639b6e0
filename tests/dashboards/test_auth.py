"""The dashboards' sign-in, on the Dash app's own Flask server and the real embedded warehouse."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flask_login import current_user  # type: ignore[import-untyped]
from pydantic import SecretStr

from dashboards.app import create_dashboards
from dashboards.auth import PUBLIC_ENDPOINTS, NoViewerError, viewer_property
from dashboards.data import DashboardData
from foundation.settings import Settings
from tests.factories.dashboards import add_user, form_token, sign_in, signed_in_client
from warehouse.access import list_tokens
from warehouse.properties import create_property
from warehouse.users import disable_user, generate_password, save_user

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser's
COOKIE, PLAIN_COOKIE = "__Host-qoe-dashboards", "qoe-dashboards"
# The page router's callback, as the browser posts it for the overview page.
ROUTE_CALLBACK = {
    "output": "page.children",
    "outputs": {"id": "page", "property": "children"},
    "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
    "changedPropIds": ["url.pathname"],
    "state": [],
}
SIGN_IN_FIRST = {"detail": "sign in at /login"}


def dashboards(settings: Settings, warehouse: Client, **changes: Any) -> Any:
    return create_dashboards(DashboardData(settings.model_copy(update=changes), lambda: warehouse))


@pytest.fixture
def app(settings: Settings, warehouse: Client) -> Any:
    return dashboards(settings, warehouse)


@pytest.fixture
def people(warehouse: Client) -> dict[str, str]:
    return {"reader": add_user(warehouse, "reader", "read"), "boss": add_user(warehouse, "boss", "admin")}


def every_request(app: Any) -> list[tuple[str, str, str]]:
    """(rule, method, URL) for every route of the server, its variables filled in."""
    adapter = app.server.url_map.bind("localhost")
    found = []
    for rule in app.server.url_map.iter_rules():
        url = adapter.build(rule.endpoint, {name: "x" for name in rule.arguments})
        found += [(rule.rule, method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def test_every_route_but_the_sign_in_page_and_healthz_answers_401_without_a_session(app: Any) -> None:
    client = app.server.test_client()
    swept = set()
    for rule, method, url in every_request(app):
        if app.server.url_map.bind("localhost").match(url, method)[0] in PUBLIC_ENDPOINTS:
            continue
        answer = client.open(url, method=method, json=ROUTE_CALLBACK if method == "POST" else None)
        assert answer.status_code == 401, (rule, method, answer.status_code)
        assert answer.get_json() == SIGN_IN_FIRST, (rule, method)
        swept.add(rule)
    assert {"/", "/<path:path>", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component"} <= swept
    assert {"/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>", "/admin", "/logout"} <= swept
    assert client.get("/no/such/page").status_code == 401


def test_a_browser_is_sent_to_the_sign_in_page_but_dash_requests_are_not(app: Any) -> None:
    client = app.server.test_client()
    page = client.get("/views?view_id=v1", headers=HTML)
    assert page.status_code == 302 and page.location == "/login?next=/views?view_id%3Dv1"
    assert client.get("/_dash-layout", headers=HTML).status_code == 401
    assert client.post("/_dash-update-component", json=ROUTE_CALLBACK, headers=HTML).status_code == 401
    assert client.get("/", headers={"Accept": "*/*"}).status_code == 401  # a probe or a script


def test_the_public_routes_need_nothing_else(app: Any) -> None:
    client = app.server.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_data(as_text=True) == "OK"
    login = client.get("/login")
    assert login.status_code == 200 and login.headers["Cache-Control"] == "no-store"
    html = login.get_data(as_text=True)
    assert 'type="password"' in html and form_token(html)
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == [], "the sign-in page fetches nothing it could not get"
    assert login.headers["X-Frame-Options"] == "DENY"


def test_signing_in_opens_the_dashboards_and_leads_back_to_the_page_asked_for(app: Any, people: dict[str, str]) -> None:
    client = app.server.test_client()
    answer = sign_in(client, "reader", people["reader"], "/login?next=/views?view_id%3Dv1")
    assert answer.status_code == 302 and answer.location == "/views?view_id=v1"
    shell = client.get("/", headers=HTML)
    assert shell.status_code == 200 and "QoE dashboards" in shell.get_data(as_text=True)
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "reader (read)" in layout and "Sign out" in layout and '"Admin"' not in layout
    routed = client.post("/_dash-update-component", json=ROUTE_CALLBACK)
    assert routed.status_code == 200 and "page" in routed.get_json()["response"]
    assert client.get("/login", headers=HTML).location == "/"  # signed in already


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/%09/evil.example", "evil"]
)
def test_the_next_page_is_always_on_this_server(app: Any, people: dict[str, str], target: str) -> None:
    client = app.server.test_client()
    answer = sign_in(client, "reader", people["reader"], f"/login?next={target}")
    assert answer.status_code == 302 and answer.location == "/"


def test_a_wrong_password_or_an_unknown_name_does_not_sign_in(app: Any, people: dict[str, str]) -> None:
    client = app.server.test_client()
    for name, password in [("reader", people["boss"]), ("nobody", people["reader"]), ("reader", "")]:
        answer = sign_in(client, name, password)
        assert answer.status_code == 401 and "Wrong name or password." in answer.get_data(as_text=True)
        assert client.get("/_dash-layout").status_code == 401


def test_a_form_without_the_session_token_is_refused(app: Any, people: dict[str, str]) -> None:
    """A cross-site post carries no session cookie (SameSite=Lax), so it cannot hold the token."""
    client = app.server.test_client()
    client.get("/login")
    forged = client.post("/login", data={"csrf_token": "guessed", "name": "reader", "password": people["reader"]})
    assert forged.status_code == 400 and client.get("/_dash-layout").status_code == 401
    fresh = app.server.test_client()
    no_session = fresh.post("/login", data={"name": "reader", "password": people["reader"]})
    assert no_session.status_code == 400


def test_a_read_user_gets_403_on_the_admin_page_and_an_admin_sees_it(
    app: Any, people: dict[str, str], warehouse: Client
) -> None:
    reader = signed_in_client(app.server.test_client(), "reader", people["reader"])
    token = form_token(reader.get("/logout").get_data(as_text=True))
    assert reader.get("/admin", headers=HTML).status_code == 403
    refused = reader.post("/admin/keys", data={"csrf_token": token, "name": "mine", "scope": "admin"})
    assert refused.status_code == 403 and list_tokens(warehouse) == []

    boss = signed_in_client(app.server.test_client(), "boss", people["boss"])
    assert '"Admin"' in boss.get("/_dash-layout").get_data(as_text=True)
    page = boss.get("/admin", headers=HTML)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'id="tokens"' in html and "<td>reader</td><td>read</td>" in html


def test_an_admin_creates_a_token_sees_it_once_and_revokes_it(
    app: Any, people: dict[str, str], warehouse: Client
) -> None:
    boss = signed_in_client(app.server.test_client(), "boss", people["boss"])
    token = form_token(boss.get("/admin").get_data(as_text=True))
    created = boss.post("/admin/keys", data={"csrf_token": token, "name": "grafana", "scope": "read"})
    assert created.status_code == 201
    secret = re.search(r"<code>(qoe_[0-9a-f]{16}_[A-Za-z0-9_-]+)</code>", created.get_data(as_text=True))
    assert secret is not None
    (info,) = list_tokens(warehouse)
    assert (info.name, sorted(info.scopes), info.created_by) == ("grafana", ["read"], "dashboards:boss")
    assert secret[1].startswith(f"qoe_{info.token_id}_")
    assert secret[1] not in boss.get("/admin").get_data(as_text=True), "the secret is shown once"

    assert boss.post("/admin/keys", data={"name": "no token", "scope": "read"}).status_code == 400
    assert boss.post("/admin/keys", data={"csrf_token": token, "name": "x", "scope": "root"}).status_code == 422
    revoked = boss.post(f"/admin/keys/{info.token_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303 and revoked.location == "/admin"
    (after,) = list_tokens(warehouse)
    assert not after.active and after.revoked_by == "dashboards:boss"
    assert boss.post("/admin/keys/0123456789abcdef/revoke", data={"csrf_token": token}).status_code == 404


def test_signing_out_ends_the_session(app: Any, people: dict[str, str]) -> None:
    client = signed_in_client(app.server.test_client(), "reader", people["reader"])
    confirm = client.get("/logout")
    assert confirm.status_code == 200
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200, "a forged sign-out changes nothing"
    out = client.post("/logout", data={"csrf_token": form_token(confirm.get_data(as_text=True))})
    assert out.status_code == 302 and out.location == "/login"
    assert client.get("/_dash-layout").status_code == 401


def test_the_session_cookie_is_http_only_same_site_lax_and_secure(
    settings: Settings, warehouse: Client, people: dict[str, str]
) -> None:
    app = dashboards(settings, warehouse, dashboards_session_hours=2.0)
    client = signed_in_client(app.server.test_client(), "reader", people["reader"])
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and client.get_cookie(PLAIN_COOKIE) is None
    assert (cookie.secure, cookie.http_only, cookie.same_site, cookie.path) == (True, True, "Lax", "/")
    assert cookie.expires is not None
    expected = datetime.now(UTC) + timedelta(hours=2)
    assert abs(cookie.expires.astimezone(UTC) - expected) < timedelta(minutes=1)

    plain = dashboards(settings, warehouse, dashboards_secure_cookies=False)
    client = signed_in_client(plain.server.test_client(), "reader", people["reader"])
    cookie = client.get_cookie(PLAIN_COOKIE)
    assert cookie is not None and not cookie.secure and cookie.http_only and cookie.same_site == "Lax"


def test_a_session_ends_after_its_lifetime_even_when_its_cookie_is_kept(
    settings: Settings, warehouse: Client, people: dict[str, str]
) -> None:
    app = dashboards(settings, warehouse, dashboards_session_hours=1 / 3600)
    client = signed_in_client(app.server.test_client(), "reader", people["reader"])
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    time.sleep(2.1)
    replay = app.server.test_client()
    replay.set_cookie(COOKIE, cookie.value)  # kept past its Expires, as a copied cookie would be
    assert replay.get("/_dash-layout").status_code == 401


def test_a_new_password_or_disabling_ends_open_sessions(
    app: Any, people: dict[str, str], warehouse: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dashboards.auth.USER_CACHE_S", 0.0)
    client = signed_in_client(app.server.test_client(), "reader", people["reader"])
    save_user(warehouse, "reader", "a brand new password", "read", "test")
    assert client.get("/_dash-layout").status_code == 401
    client = signed_in_client(app.server.test_client(), "reader", "a brand new password")
    disable_user(warehouse, "reader", "test")
    assert client.get("/_dash-layout").status_code == 401
    assert sign_in(app.server.test_client(), "reader", "a brand new password").status_code == 401


def test_failed_sign_ins_are_limited_per_name_and_client_address(
    settings: Settings, warehouse: Client, people: dict[str, str]
) -> None:
    app = dashboards(settings, warehouse, dashboards_login_rate_limit="3/minute")
    client = app.server.test_client()
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(3):
        assert sign_in(client, "reader", "not the password", **attacker).status_code == 401
    limited = sign_in(client, "reader", people["reader"], **attacker)  # even the right password now
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert sign_in(client, "boss", "not the password", **attacker).status_code == 401  # another name
    assert sign_in(app.server.test_client(), "reader", people["reader"]).status_code == 302  # another address


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    settings: Settings, warehouse: Client, people: dict[str, str]
) -> None:
    app = dashboards(settings, warehouse, dashboards_login_rate_limit="1/minute")

    def attempt(peer: str, forwarded: str, password: str = "not the password") -> int:
        client = app.server.test_client()
        page = client.get("/login")
        form = {"csrf_token": form_token(page.get_data(as_text=True)), "name": "reader", "password": password}
        environ = {"REMOTE_ADDR": peer}
        answer = client.post("/login", data=form, headers={"X-Forwarded-For": forwarded}, environ_base=environ)
        status: int = answer.status_code
        return status

    assert attempt("127.0.0.1", "203.0.113.9") == 401
    assert attempt("127.0.0.1", "203.0.113.9") == 429
    assert attempt("127.0.0.1", "203.0.113.10", people["reader"]) == 302  # another client behind the proxy
    assert attempt("198.51.100.7", "203.0.113.11") == 401
    assert attempt("198.51.100.7", "203.0.113.12") == 429, "an untrusted peer cannot pick its address"


def test_the_admin_password_setting_ensures_the_admin_user_once(settings: Settings, warehouse: Client) -> None:
    app = dashboards(settings, warehouse, dashboards_admin_password=SecretStr("bootstrap password 1"))
    boss = signed_in_client(app.server.test_client(), "admin", "bootstrap password 1")
    assert boss.get("/admin").status_code == 200
    dashboards(settings, warehouse, dashboards_admin_password=SecretStr("bootstrap password 1"))
    count = "SELECT count() FROM dashboard_users WHERE name = 'admin'"
    assert warehouse.query(count).result_rows == [(1,)], "the same password is not hashed again"
    dashboards(settings, warehouse, dashboards_admin_password=SecretStr("bootstrap password 2"))
    assert warehouse.query(count).result_rows == [(2,)]
    assert sign_in(app.server.test_client(), "admin", "bootstrap password 1").status_code == 401


def test_replicas_with_one_secret_key_share_sessions(
    settings: Settings, warehouse: Client, people: dict[str, str]
) -> None:
    key = SecretStr("a shared key of the dashboards replicas")
    first, second = (dashboards(settings, warehouse, dashboards_secret_key=key) for _ in range(2))
    cookie = signed_in_client(first.server.test_client(), "reader", people["reader"]).get_cookie(COOKIE)
    assert cookie is not None
    other = second.server.test_client()
    other.set_cookie(COOKIE, cookie.value)
    assert other.get("/_dash-layout").status_code == 200
    unkeyed = dashboards(settings, warehouse).server.test_client()  # a random key of its own
    unkeyed.set_cookie(COOKIE, cookie.value)
    assert unkeyed.get("/_dash-layout").status_code == 401


def test_a_user_bound_to_a_property_carries_it_on_the_signed_in_user(
    app: Any, people: dict[str, str], warehouse: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pages filter by: ``current_user.property_id`` and :func:`viewer_property`."""
    monkeypatch.setattr("dashboards.auth.USER_CACHE_S", 0.0)
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    password = generate_password()
    save_user(warehouse, "brand-ops", password, "read", "test", property_id="brand-a")
    client = signed_in_client(app.server.test_client(), "brand-ops", password)
    with client:  # keeps the last request's context, to look at its user
        assert client.get("/_dash-layout").status_code == 200
        assert current_user.property_id == "brand-a" and current_user.user.role == "read"
        assert viewer_property() == "brand-a"

    for name in ("reader", "boss"):  # unbound: every property
        unbound = signed_in_client(app.server.test_client(), name, people[name])
        with unbound:
            unbound.get("/_dash-layout")
            assert current_user.property_id == "" and viewer_property() == ""

    moved = "a new password, long enough"
    create_property(warehouse, "brand-b", "Brand B", (), "ops")
    save_user(warehouse, "brand-ops", moved, "read", "test", property_id="brand-b")
    assert client.get("/_dash-layout").status_code == 401, "a change of property comes with a new password"
    client = signed_in_client(app.server.test_client(), "brand-ops", moved)
    with client:
        client.get("/_dash-layout")
        assert viewer_property() == "brand-b"


def test_there_is_no_viewer_property_without_a_signed_in_user(app: Any) -> None:
    """Not "" (every property) for nobody: outside a request, or on a public page without a session."""
    with pytest.raises(NoViewerError):
        viewer_property()
    client = app.server.test_client()
    with client:
        assert client.get("/login").status_code == 200
        with pytest.raises(NoViewerError, match="no user is signed in"):
            viewer_property()
