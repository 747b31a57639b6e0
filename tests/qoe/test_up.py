"""`qoe up` as a newcomer runs it: the whole platform, a simulated audience, and a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from foundation.broker import free_port
from foundation.properties import new_property_key
from tests.factories.beacons import beacon, playing_view_events
from tests.factories.dashboards import form_token
from tests.factories.waiting import wait_for_answer

pytestmark = pytest.mark.integration


def _signed_in_page(base: str, name: str, password: str) -> httpx.Response:
    """``/`` after signing in through the form. The session cookie is Secure, which httpx keeps
    off plain http (a browser does send it to 127.0.0.1), so it is carried by hand."""
    form = httpx.get(f"{base}/login")
    data = {"csrf_token": form_token(form.text), "name": name, "password": password}
    signed_in = httpx.post(f"{base}/login", data=data, cookies=_cookies(form))
    assert signed_in.status_code == 302, signed_in.text[:300]
    return httpx.get(f"{base}/", cookies=_cookies(signed_in))


def _cookies(response: httpx.Response) -> dict[str, str]:
    pairs = (header.split(";", 1)[0].split("=", 1) for header in response.headers.get_list("set-cookie"))
    return {name: value for name, value in pairs}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_up_serves_traffic_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("API", "INTERNAL_API", "DASHBOARDS")}
    env = {**os.environ, "QOE_DATA_DIR": str(tmp_path / "qoe"), "QOE_AUDIENCE_VIEWERS": "30"}
    env.update({f"QOE_{name}_PORT": str(port) for name, port in ports.items()})
    up = subprocess.Popen([sys.executable, "-m", "qoe", "up"], env=env, stdout=subprocess.PIPE, text=True)
    gateway = f"http://127.0.0.1:{ports['API']}"
    try:
        assert wait_for_answer(f"{gateway}/healthz", 60).json()["kafka"] == "reachable"
        # The admin token `qoe up` generated for this data directory, and printed.
        token = (tmp_path / "qoe" / "run" / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{gateway}/v1/events/summary").status_code == 401
        simulated = wait_for_answer(
            f"{gateway}/v1/events/summary",
            60,
            until=lambda r: r.status_code == 200 and r.json()["views"] > 0,
            headers=auth,
        )
        assert simulated.json()["rows"] > 0
        dashboards = f"http://127.0.0.1:{ports['DASHBOARDS']}"
        assert httpx.get(f"{dashboards}/").status_code == 401
        password = (tmp_path / "qoe" / "run" / "dashboards-admin-password").read_text().strip()
        dashboard = _signed_in_page(dashboards, "admin", password)
        assert dashboard.status_code == 200 and "QoE dashboards" in dashboard.text

        # The default property `qoe up` created: its key works, a made-up one does not.
        [default] = httpx.get(f"{gateway}/v1/properties", headers=auth).json()["properties"]
        assert (default["property_id"], default["active"]) == ("default", True)
        stranger = beacon() | {"property_key": new_property_key()}
        assert httpx.post(f"{gateway}/v1/beacons", json=stranger).status_code == 403
        body = beacon(playing_view_events(6)) | {"property_key": default["key"]}
        assert httpx.post(f"{gateway}/v1/beacons", json=body).status_code == 202
        view = wait_for_answer(f"{gateway}/v1/events?view_id={body['view_id']}", 10, headers=auth)
        assert [e["seq"] for e in view.json()["events"]] == list(range(6))

        pids = orjson.loads((tmp_path / "qoe" / "run" / "up.json").read_bytes())["pids"]
        assert set(pids) == {"broker", "worker", "ingest", "audience"}
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert f"API gateway   {gateway}" in output
    assert f'curl -H "Authorization: Bearer {token}" {gateway}/v1/stats/overview' in output
    assert f"sign in at {dashboards}/login as admin / {password}" in output
    assert f"property key  {default['key']}" in output
    time.sleep(0.5)
    assert [name for name, pid in pids.items() if _alive(pid)] == []
