"""The ingest benchmark's reference endpoints, each served by its own uvicorn process.

- ``create_baseline_app``: a bare FastAPI endpoint that only parses the JSON body (the target's
  baseline).
- ``create_produce_baseline_app``: the same, plus producing the body to Kafka and awaiting the
  acknowledgement through ingest's producer. No validation, enrichment, CORS or metrics: the most
  any endpoint that answers 202 after Kafka's ack can do on the machine, which bounds the ratio
  ingest can reach.
- ``create_refusing_produce_baseline_app``: the produce baseline behind the cheapest refusal there is
  in the process: every request from the address in ``BENCH_REFUSED_ADDRESS`` is answered 429 by a
  bare ASGI callable before anything reads its body. The floor of bench/abuse.py: what an abusive
  request costs the valid ones when the application spends nothing on it, only the HTTP server does.
"""

from __future__ import annotations

import os

import orjson
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.process import freeze_startup_objects
from foundation.settings import Settings
from ingest.producer import KafkaRecordSink

REFUSED_ADDRESS_VARIABLE = "BENCH_REFUSED_ADDRESS"


def create_baseline_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/beacons")
    async def parse_only(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(status_code=202)

    freeze_startup_objects()  # as `qoe ingest` does, so the comparison is of the endpoints
    return app


def create_produce_baseline_app() -> FastAPI:
    settings = Settings()  # this child's entry point: settings from its environment
    if not settings.kafka_bootstrap:
        raise SystemExit("QOE_KAFKA_BOOTSTRAP must name the broker")
    sink = KafkaRecordSink(settings, settings.kafka_bootstrap)
    app = FastAPI()

    @app.post("/v1/beacons")
    async def parse_and_produce(request: Request) -> Response:
        raw = await request.body()
        await sink.send(settings.topic_beacons, orjson.loads(raw)["view_id"].encode(), raw)
        return Response(status_code=202)

    freeze_startup_objects()
    return app


def create_refusing_produce_baseline_app() -> ASGIApp:
    refused = os.environ.get(REFUSED_ADDRESS_VARIABLE)
    if not refused:
        raise SystemExit(f"{REFUSED_ADDRESS_VARIABLE} must name the address to refuse")
    app = create_produce_baseline_app()
    too_many = {"type": "http.response.start", "status": 429, "headers": [(b"content-length", b"0")]}
    empty = {"type": "http.response.body", "body": b""}

    async def refusing(scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and client[0] == refused:
            await send(too_many)  # the body is never read: uvicorn drops it
            await send(empty)
            return
        await app(scope, receive, send)

    return refusing
