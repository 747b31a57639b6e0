"""Serving ASGI and WSGI apps on background threads, for the process that hosts several of them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class ThreadedServer:
    name: str
    url: str
    thread: threading.Thread
    _stop: Any

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop()
        self.thread.join(timeout_s)


def serve_asgi(name: str, app: Any, host: str, port: int) -> ThreadedServer:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True

    return ThreadedServer(name, f"http://{host}:{port}", thread, stop)


def serve_wsgi(name: str, app: Any, host: str, port: int) -> ThreadedServer:
    server: BaseWSGIServer = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return ThreadedServer(name, f"http://{host}:{port}", thread, server.shutdown)
