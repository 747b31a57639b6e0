"""Access tokens on the real stack (issue 12): every route of the gateway and of the warehouse API,
walked without a token, with a read token and with the admin token; and ``qoe keys`` revoking a
token that then fails everywhere within 5 s.

The routes come from the apps' own route tables (the gateway as ``qoe ingest`` builds it, the
warehouse API as ``qoe.api.create_api`` builds it), so a route added later is walked too. The
public list is the specification (docs/security.md), written out here on purpose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from foundation.access import parse_token
from foundation.settings import default_settings
from foundation.stack import LocalStack
from ingest.producer import MemoryRecordSink
from qoe.api import create_api, warehouse_routes
from qoe.commands.services import gateway_app
from tests.factories.beacons import beacon, playing_view_events
from tests.factories.waiting import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REVOCATION_S = 5.0
PROXY_PATH = "/v1/{path:path}"
# What may be reached without credentials: players' and browsers' routes, probes, the API's description.
PUBLIC_PATHS = {"/v1/steering/hls", "/v1/steering/dash", "/healthz",
                "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # fmt: skip
PUBLIC_PREFIXES = ("/demo", "/sdk/", "/media/")
# Players post with their property's public key, not a token; their CORS preflights carry nothing.
KEYED_POSTS = {"/v1/beacons", "/v1/cmcd"}
# The walk is a burst of requests; players must present a property key, as in production.
STACK_ENV = {"QOE_RATE_LIMIT_API": "", "QOE_RATE_LIMIT_PER_TOKEN": "", "QOE_PROPERTY_KEYS_REQUIRED": "true"}
PROPERTY_REVOCATION_S = 10.0  # the gateway's snapshot reloads every QOE_PROPERTY_KEYS_REFRESH_S (5 s)
EXAMPLE_IDS = {"token_id": "0123456789abcdef"}


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # a template, e.g. /v1/views/{view_id}
    admin: bool

    @property
    def public(self) -> bool:
        preflight = self.method == "OPTIONS" and self.path in KEYED_POSTS
        return preflight or self.path in PUBLIC_PATHS or self.path.startswith(PUBLIC_PREFIXES)

    @property
    def keyed(self) -> bool:
        return self.method == "POST" and self.path in KEYED_POSTS

    @property
    def url(self) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: EXAMPLE_IDS.get(m[1], "nobody"), self.path)

    def send(self, base: str, headers: dict[str, str] | None = None, property_key: str | None = None) -> httpx.Response:
        # A body no route accepts: an admin route reached with the admin token refuses it (422)
        # instead of training or erasing. A property key goes where players put it.
        body: dict[str, Any] | None = {"not_a_field": 1} if self.method in ("POST", "PUT", "PATCH") else None
        params = {}
        if property_key is not None and body is not None:
            body["property_key"] = property_key
            params["property_key"] = property_key
        url = f"{base}{self.url}"
        return httpx.request(self.method, url, json=body, params=params, headers=headers, timeout=60)


def probes(app: FastAPI) -> list[Probe]:
    """Every (method, path) of ``app``'s route table, included routers' routes too (FastAPI keeps
    them nested); a mount is probed below its prefix."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.append(Probe("GET", f"{route.path}/probe", admin=False))
        elif route.path is not None:
            tags = getattr(route, "tags", None) or []  # an APIRoute's, with those of the routers it is in
            found += [Probe(method, route.path, "admin" in tags) for method in sorted(route.methods or ["GET"])]
    return found


def warehouse_api_probes() -> list[Probe]:
    # No client is needed to build the app, only to answer it.
    return probes(create_api(default_settings(), cast(Client, None)))


def gateway_probes(stack: LocalStack) -> list[Probe]:
    app = gateway_app(stack.settings, MemoryRecordSink(), stack.broker.bootstrap, "off")
    own = [probe for probe in probes(app) if probe.path != PROXY_PATH]
    forwarded = set(warehouse_routes())
    proxied = [probe for probe in warehouse_api_probes() if (probe.method, probe.path) in forwarded]
    preflights = [Probe("OPTIONS", path, admin=False) for path in ("/v1/beacons", "/v1/cmcd")]
    return own + proxied + preflights


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("access-stack"), env=STACK_ENV) as running:
        yield running


def qoe(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qoe", *args]
    return subprocess.run(command, env=stack.env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def create_key(stack: LocalStack, name: str, *scopes: str) -> dict[str, Any]:
    done = qoe(stack, "keys", "create", "--name", name, *[f"--scope={scope}" for scope in scopes], "--json")
    assert done.returncode == 0, done.stderr
    assert "asking it" in done.stderr  # the worker holds the warehouse: the command asked its API
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_qoe_keys_create_list_and_revoke_and_the_revoked_token_fails_within_5_s(stack: LocalStack) -> None:
    created = create_key(stack, "grafana", "read")
    assert created["scopes"] == ["read"] and created["token"].startswith(f"qoe_{created['token_id']}_")
    reader = bearer(created["token"])
    urls = [f"{stack.gateway}/v1/events/summary", f"{stack.internal_api}/v1/events/summary"]
    for url in urls:
        assert httpx.get(url, headers=reader, timeout=30).status_code == 200, url

    listed = qoe(stack, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    tokens = {token["token_id"]: token for token in json.loads(listed.stdout)["tokens"]}
    admin_id = parse_token(stack.admin_token).token_id
    assert tokens[created["token_id"]]["active"] and tokens[admin_id]["scopes"] == ["admin"]
    assert created["token"] not in listed.stdout

    revoked = qoe(stack, "keys", "revoke", created["token_id"])
    assert revoked.returncode == 0, revoked.stderr

    def accepting() -> list[str]:
        return [url for url in urls if httpx.get(url, headers=reader, timeout=5).status_code != 401]

    wait_for(accepting, REVOCATION_S, "every route to refuse the token", until=lambda left: not left, poll_s=0.1)
    listed = json.loads(qoe(stack, "keys", "list", "--json").stdout)["tokens"]
    [state] = [token for token in listed if token["token_id"] == created["token_id"]]
    assert not state["active"] and state["revoked_by"].startswith(f"token:{parse_token(stack.admin_token).token_id}")


def test_a_read_token_cannot_manage_keys(stack: LocalStack) -> None:
    reader = bearer(create_key(stack, "reader", "read")["token"])
    answer = httpx.post(f"{stack.gateway}/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=reader, timeout=30)
    assert answer.status_code == 403 and "needs admin" in answer.json()["detail"]
    assert httpx.get(f"{stack.gateway}/v1/auth/whoami", headers=reader, timeout=30).json()["name"] == "reader"


def test_keys_answer_a_bad_request_with_the_reason(stack: LocalStack) -> None:
    admin = stack.auth_headers
    bad = httpx.post(
        f"{stack.internal_api}/v1/keys", json={"name": "x", "scopes": ["write"]}, headers=admin, timeout=30
    )
    assert bad.status_code == 422 and "unknown scope 'write'" in bad.json()["detail"]
    missing = httpx.delete(f"{stack.internal_api}/v1/keys/{EXAMPLE_IDS['token_id']}", headers=admin, timeout=30)
    assert missing.status_code == 404 and EXAMPLE_IDS["token_id"] in missing.json()["detail"]


def walk(
    base: str, table: list[Probe], reader: dict[str, str], admin: dict[str, str], property_key: str = ""
) -> list[str]:
    """What each probe answered that it should not have; empty when every route is guarded as specified."""
    wrong = []
    for probe in table:
        anonymous = probe.send(base).status_code
        if probe.keyed:
            keyed = probe.send(base, property_key=property_key).status_code
            if anonymous != 401 or keyed in (401, 403):
                wrong.append(f"{probe} answered {anonymous} without a property key, {keyed} with one")
            continue
        if probe.public and anonymous in (401, 403):
            wrong.append(f"{probe} is public but answered {anonymous} without a token")
        if not probe.public and anonymous != 401:
            wrong.append(f"{probe} answered {anonymous} without a token")
        if probe.public:
            continue
        as_reader = probe.send(base, reader).status_code
        if probe.admin and as_reader != 403:
            wrong.append(f"{probe} (admin) answered {as_reader} to a read token")
        if not probe.admin and as_reader in (401, 403):
            wrong.append(f"{probe} refused a read token: {as_reader}")
        as_admin = probe.send(base, admin).status_code
        if as_admin in (401, 403):
            wrong.append(f"{probe} refused the admin token: {as_admin}")
    return wrong


def test_every_route_of_the_warehouse_api_is_guarded_as_specified(stack: LocalStack) -> None:
    table = warehouse_api_probes()
    assert any(p.admin for p in table) and any(p.public for p in table) and len(table) > 20
    reader = bearer(create_key(stack, "walker", "read")["token"])
    assert walk(stack.internal_api, table, reader, stack.auth_headers) == []


def test_every_route_of_the_gateway_is_guarded_as_specified(stack: LocalStack) -> None:
    table = gateway_probes(stack)
    paths = {probe.path for probe in table}
    assert {"/metrics", "/v1/steering/decision", "/v1/steering/scores", "/v1/keys", "/demo/"} <= paths
    assert any(probe.keyed for probe in table)
    reader = bearer(create_key(stack, "gateway-walker", "read")["token"])
    key = create_property(stack, "walker")["key"]
    # Last: the demo's probes start the lazy ladder build (ffmpeg), which no other test should wait behind.
    table.sort(key=lambda probe: probe.path.startswith(PUBLIC_PREFIXES))
    assert walk(stack.gateway, table, reader, stack.auth_headers, key) == []


def create_property(stack: LocalStack, property_id: str, *origins: str) -> dict[str, Any]:
    command = ["properties", "create", "--id", property_id, "--name", property_id.title(), "--json"]
    done = qoe(stack, *command, *[f"--origin={origin}" for origin in origins])
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def post_beacon(stack: LocalStack, key: str | None, origin: str | None = None) -> httpx.Response:
    body = beacon(playing_view_events(3)) | ({"property_key": key} if key else {})
    return httpx.post(
        f"{stack.gateway}/v1/beacons", json=body, headers={"origin": origin} if origin else {}, timeout=30
    )


def test_players_post_with_their_property_key_from_its_origins_until_it_is_revoked(stack: LocalStack) -> None:
    prop = create_property(stack, "brand-a", "https://www.brand-a.example")
    assert post_beacon(stack, prop["key"], "https://www.brand-a.example").status_code == 202  # at once
    assert post_beacon(stack, prop["key"]).status_code == 202  # an app sends no Origin
    assert post_beacon(stack, prop["key"], "https://evil.example").status_code == 403
    assert post_beacon(stack, None).status_code == 401

    revoked = qoe(stack, "properties", "revoke", "brand-a")
    assert revoked.returncode == 0, revoked.stderr
    wait_for(
        lambda: post_beacon(stack, prop["key"]).status_code,
        PROPERTY_REVOCATION_S,
        "the revoked key to be refused",
        until=lambda status: status == 403,
        poll_s=0.5,
    )
