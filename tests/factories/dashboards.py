"""Signing in to the dashboards in tests: users in the warehouse, and the sign-in form as a browser posts it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from warehouse.users import generate_password, save_user

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(client: Client, name: str, role: str = "read") -> str:
    """Creates the user with a fresh password; returns the password."""
    password = generate_password()
    save_user(client, name, password, role, "test")
    return password


def form_token(html: str) -> str:
    """The form token of a page the server rendered."""
    found = _TOKEN.search(html)
    assert found is not None, f"no form token in {html[:300]!r}"
    return found[1]


def sign_in(client: FlaskClient, name: str, password: str, path: str = "/login", **environ: str) -> TestResponse:
    """Opens the sign-in page at ``path`` (which may carry ``?next=``) and posts its form, as a browser does."""
    page = client.get(path, environ_base=environ)
    assert page.status_code == 200, page.status_code
    form = {"csrf_token": form_token(page.get_data(as_text=True)), "name": name, "password": password}
    return client.post(path, data=form, environ_base=environ)


def signed_in_client(client: FlaskClient, name: str, password: str) -> FlaskClient:
    answer = sign_in(client, name, password)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return client
