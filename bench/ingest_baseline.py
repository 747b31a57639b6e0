"""The ingest benchmark's reference endpoints, each served by its own uvicorn process.

- ``create_baseline_app``: a bare FastAPI endpoint that only parses the JSON body (the target's
  baseline).
- ``create_produce_baseline_app``: the same, plus producing the body to Kafka and awaiting the
  acknowledgement through ingest's producer. No validation, enrichment, CORS or metrics: the most
  any endpoint that answers 202 after Kafka's ack can do on the machine, which bounds the ratio
  ingest can reach.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

from foundation.process import freeze_startup_objects
from foundation.settings import Settings
from ingest.producer import KafkaRecordSink


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
