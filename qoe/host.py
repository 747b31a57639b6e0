"""The warehouse host: the one process that opens the warehouse when it is embedded chDB.

chDB lets a single process open a data directory. So with the embedded warehouse, this process
runs the Faust worker (which writes the warehouse), the warehouse-side API (which the gateway
forwards /v1 reads to) and the dashboards. With a ClickHouse server, each of them can run alone.
"""

from __future__ import annotations

import logging

from foundation.servers import ThreadedServer, serve_asgi, serve_wsgi
from foundation.settings import Settings
from warehouse.client import connect
from warehouse.migrations import migrate

log = logging.getLogger(__name__)


def start_api(settings: Settings) -> ThreadedServer:
    from qoe.api import create_api

    app = create_api(settings, connect(settings))
    return serve_asgi("api", app, settings.host, settings.internal_api_port)


def start_dashboards(settings: Settings) -> ThreadedServer:
    from dashboards.app import create_dashboards
    from dashboards.data import DashboardData

    app = create_dashboards(DashboardData(settings, lambda: connect(settings)))
    return serve_wsgi("dashboards", app.server, settings.host, settings.dashboards_port)


def run_host(settings: Settings, bootstrap: str, *, api: bool, dashboards: bool) -> int:
    from qoe.worker import run_worker

    migrate(connect(settings, bounded=False), settings)
    servers = []
    if api:
        servers.append(start_api(settings))
    if dashboards:
        servers.append(start_dashboards(settings))
    try:
        return run_worker(settings, bootstrap)
    finally:
        for server in servers:
            server.stop()
