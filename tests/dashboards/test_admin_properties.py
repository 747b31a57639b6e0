"""The admin page (dashboards/admin.py) and tenancy: what each token and user reads, and a new
token bound to a property, on the real embedded warehouse."""

from __future__ import annotations

import re
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from dashboards.app import create_dashboards
from dashboards.data import DashboardData
from foundation.access import Scope
from foundation.settings import Settings
from tests.factories.dashboards import add_user, form_token, signed_in_client
from warehouse.access import create_token, list_tokens
from warehouse.properties import create_property
from warehouse.users import generate_password, save_user

pytestmark = pytest.mark.integration


@pytest.fixture
def boss(settings: Settings, warehouse: Client) -> Any:
    """An admin signed in to the dashboards, with the property brand-a in the warehouse."""
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    app = create_dashboards(DashboardData(settings, lambda: warehouse))
    return signed_in_client(app.server.test_client(), "boss", add_user(warehouse, "boss", "admin"))


def rows(html: str, table: str) -> dict[str, str]:
    """The rows of a table of the page by their first cell, each as its cells' text joined by |."""
    found = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    assert found is not None, table
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in found[1].split("<tr")[2:]]
    return {row[0] if table == "users" else row[1]: "|".join(cell.strip() for cell in row) for row in cells}


def test_the_page_shows_what_each_token_and_user_reads(boss: Any, warehouse: Client) -> None:
    create_token(warehouse, "brand-a grafana", frozenset({Scope.READ}), "ops", property_id="brand-a")
    create_token(warehouse, "ci", frozenset({Scope.READ}), "ops")
    save_user(warehouse, "brand-ops", generate_password(), "read", "test", property_id="brand-a")
    html = boss.get("/admin").get_data(as_text=True)
    tokens, users = rows(html, "tokens"), rows(html, "users")
    assert "|read|brand-a|" in tokens["brand-a grafana"] and "|read|all properties|" in tokens["ci"]
    assert users["brand-ops"].startswith("brand-ops|read|brand-a|enabled|")
    assert users["boss"].startswith("boss|admin|all properties|enabled|")
    assert '<td class="property">brand-a</td>' in html


def test_an_admin_creates_a_read_token_bound_to_an_active_property(boss: Any, warehouse: Client) -> None:
    token = form_token(boss.get("/admin").get_data(as_text=True))
    form = {"csrf_token": token, "name": "brand-a grafana", "scope": "read", "property": "brand-a"}
    created = boss.post("/admin/keys", data=form)
    assert created.status_code == 201 and ", property brand-a)." in created.get_data(as_text=True)
    (info,) = list_tokens(warehouse)
    assert (info.name, info.property_id) == ("brand-a grafana", "brand-a")

    unbound = boss.post("/admin/keys", data={**form, "name": "ci", "property": "  "})
    assert unbound.status_code == 201
    assert {t.name: t.property_id for t in list_tokens(warehouse)} == {"brand-a grafana": "brand-a", "ci": ""}

    unknown = boss.post("/admin/keys", data={**form, "property": "brand-z"})
    assert unknown.status_code == 422 and "no active property &#39;brand-z&#39;" in unknown.get_data(as_text=True)
    bound_admin = boss.post("/admin/keys", data={**form, "scope": "admin"})
    assert bound_admin.status_code == 422 and "read scope only" in bound_admin.get_data(as_text=True)
    assert len(list_tokens(warehouse)) == 2
