"""A minimal beacon receiver: answers ``POST /v1/beacons`` with 202 and counts what it got.

The benchmark sends the simulated audience here when no real ingest is given, so the figure
measures the simulator and its SDK, not the platform behind it; tests use it (with
``validate=True``) as a real HTTP server that checks every beacon against ``schemas.Beacon``.

    python -m qoe_sim.sink --port 8765        # stand-alone, e.g. in its own process
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas import Beacon

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class SinkStats:
    beacons: int = 0
    events: int = 0
    bytes: int = 0
    refused: int = 0
    cpu_s: float = 0.0  # this process's CPU time when the stats were read


def make_app(stats: SinkStats, *, validate: bool = False) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A raw ASGI app (no framework: the sink must cost the machine as little as possible)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/stats":
            stats.cpu_s = time.process_time()
            await _answer(send, 200, orjson.dumps(asdict(stats)))
            return
        if scope["method"] != "POST" or scope["path"] != "/v1/beacons":
            await _answer(send, 404, b'{"detail":"not found"}')
            return
        body = await _read(receive)
        stats.bytes += len(body)
        status, answer = _accept(body, dict(scope["headers"]), stats, validate)
        await _answer(send, status, answer)

    return app


def _accept(body: bytes, headers: dict[bytes, bytes], stats: SinkStats, validate: bool) -> tuple[int, bytes]:
    try:
        if headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        events = len(Beacon.model_validate_json(body).events if validate else orjson.loads(body)["events"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
        stats.refused += 1
        return 422, orjson.dumps({"detail": str(exc)[:2000]})
    stats.beacons += 1
    stats.events += events
    return 202, b'{"accepted_events":%d}' % events


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(
    stats: SinkStats, *, host: str = "127.0.0.1", port: int | None = None, validate: bool = False
) -> AsyncIterator[str]:
    """Run the sink in this event loop; yields its base URL."""
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(make_app(stats, validate=validate), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="A minimal beacon receiver that answers 202.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--validate", action="store_true", help="check each beacon against schemas.Beacon")
    args = parser.parse_args(argv)
    app = make_app(SinkStats(), validate=args.validate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
