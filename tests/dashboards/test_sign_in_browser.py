"""Headless Chromium signs in to the dashboards through the form, uses a page, and signs out.

The dashboards are served as the worker serves them (``serve_wsgi`` of the Dash app's Flask
server) over plain http on loopback, as with ``qoe up``: what the browser keeps of the session
cookie is checked, and that nothing of the dashboards shows before the sign-in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from dashboards.app import create_dashboards
from dashboards.data import DashboardData
from foundation.broker import free_port
from foundation.servers import serve_wsgi
from foundation.settings import Settings
from tests.factories.browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories.dashboards import add_user

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(params=[False, True], ids=["plain-cookie", "secure-cookie"])
def dashboards_url(request: pytest.FixtureRequest, settings: Settings, warehouse: Client) -> Iterator[str]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (`make system-deps` installs Chromium)")
    served = settings.model_copy(update={"dashboards_secure_cookies": request.param})
    app = create_dashboards(DashboardData(served, lambda: warehouse))
    server = serve_wsgi("dashboards-test", app.server, "127.0.0.1", free_port())
    try:
        yield server.url
    finally:
        server.stop()


def test_a_browser_signs_in_through_the_form_and_out_again(dashboards_url: str, warehouse: Client) -> None:
    from playwright.sync_api import sync_playwright

    password = add_user(warehouse, "reader", "read")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{dashboards_url}/views")
            assert page.url == f"{dashboards_url}/login?next=/views"
            assert page.locator("#views-summary").count() == 0

            page.fill("input[name=name]", "someone")
            page.fill("input[name=password]", "not a password")
            page.click("button[type=submit]")
            assert page.locator("[role=alert]").inner_text() == "Wrong name or password."

            page.fill("input[name=name]", "reader")
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{dashboards_url}/views")
            page.wait_for_selector("text=reader (read)", timeout=30_000)
            page.wait_for_selector("#views-summary", timeout=30_000)
            (cookie,) = [c for c in context.cookies() if "qoe-dashboards" in c["name"]]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
            assert page.evaluate("document.cookie") == "", "page scripts cannot read the session"

            page.click("text=Sign out")
            page.wait_for_url(f"{dashboards_url}/login")
            page.goto(f"{dashboards_url}/")
            assert page.url == f"{dashboards_url}/login?next=/"
        finally:
            browser.close()
