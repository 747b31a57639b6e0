"""``POST /v1/beacons``: validate, enrich, and hand one record per beacon to Kafka.

The answer is 202 only after Kafka acknowledged the record. Refused input is answered with the
reason and kept on the dead-letter topic; it never touches the good data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import Headers

from foundation.http import OrjsonResponse
from foundation.settings import Settings
from ingest.body import BodyError, read_body
from ingest.errors import describe
from ingest.intake import IntakeConfig, time_errors
from ingest.metrics import IngestMetrics
from ingest.privacy import scrubbed_body, stored_beacon
from ingest.producer import BrokerUnavailableError, RecordSink
from ingest.properties import PropertyCheck, PropertyRefusedError
from ingest.useragent import parse_user_agent
from schemas import Beacon, DeadLetter, ErrorDetail, ServerContext

router = APIRouter()
PATH = "/v1/beacons"
DEAD_LETTER_BODY_LIMIT = 16_384

_GEO_COUNTRY_HEADERS = ("x-country", "cf-ipcountry", "cloudfront-viewer-country")


def server_context(request: Request, received_at: int, intake: IntakeConfig, property_id: str) -> ServerContext:
    """What the server adds: its receive time, the property, the parsed user agent, geo from a
    trusted edge, and the sender's source id.

    Geo headers count only from a peer in the trusted proxy networks: anyone else could claim any
    country. The client's address itself is never kept, only its keyed hash (``IntakeConfig.source_of``).
    """
    ua = request.headers.get("user-agent", "")[:1024]
    client = parse_user_agent(ua)
    peer = request.client.host if request.client is not None else None
    headers = request.headers if intake.trusts(peer) else Headers()
    country = next((headers[h].upper() for h in _GEO_COUNTRY_HEADERS if h in headers), "")
    asn = headers.get("x-asn", "")
    return ServerContext(
        received_at=received_at,
        user_agent=ua,
        browser=client.browser,
        browser_version=client.browser_version,
        os=client.os,
        os_version=client.os_version,
        device_type=client.device_type,
        device_model=client.device_model,
        country=country[:2] if len(country) >= 2 and country[:2].isalpha() else "",
        region=headers.get("x-region", "")[:64],
        asn=int(asn) if asn.isdigit() and int(asn) < 2**32 else None,
        source=intake.source_of(request.scope),
        property=property_id,
    )


def record_value(server: ServerContext, raw_beacon: bytes) -> bytes:
    # The validated body is embedded as sent: re-serialising every beacon would cost more than validating it.
    return b'{"server":' + server.model_dump_json().encode() + b',"beacon":' + raw_beacon + b"}"


async def dead_letter(
    sink: RecordSink,
    settings: Settings,
    request: Request,
    status: int,
    reason: str,
    raw: bytes,
    errors: Sequence[ErrorDetail] = (),
) -> None:
    intake: IntakeConfig = request.app.state.intake
    # Scrubbed past the limit, so no value is cut in half and kept raw; hashes change the length.
    kept = scrubbed_body(raw[: 2 * DEAD_LETTER_BODY_LIMIT], intake.hmac_key)
    letter = DeadLetter(
        received_at=int(time.time() * 1000),
        source=request.url.path,
        status=status,
        reason=reason,
        errors=list(errors),
        content_type=request.headers.get("content-type", "")[:128],
        user_agent=request.headers.get("user-agent", "")[:512],
        body=kept[:DEAD_LETTER_BODY_LIMIT].decode("utf-8", "replace"),
        body_truncated=len(raw) > 2 * DEAD_LETTER_BODY_LIMIT or len(kept) > DEAD_LETTER_BODY_LIMIT,
    )
    # The client's answer does not wait on the dead-letter write succeeding: bad input stays bad.
    with contextlib.suppress(BrokerUnavailableError):
        await sink.send(settings.topic_dead_letter, None, letter.model_dump_json().encode())


async def refuse_property(
    request: Request, settings: Settings, sink: RecordSink, refusal: PropertyRefusedError, raw: bytes
) -> Response:
    """401/403 for a missing or wrong property key, kept on the dead-letter topic; 503 when the
    keys cannot be checked now (the player retries, nothing is lost)."""
    if refusal.status == 503:
        return unavailable(settings, refusal.reason)
    await dead_letter(sink, settings, request, refusal.status, refusal.reason, raw)
    return OrjsonResponse({"detail": refusal.reason}, status_code=refusal.status)


def unavailable(settings: Settings, reason: str) -> Response:
    return OrjsonResponse(
        {"detail": f"beacon not stored, retry later: {reason}"},
        status_code=503,
        headers={"Retry-After": str(settings.retry_after_s)},
    )


@router.post(
    PATH,
    status_code=202,
    responses={
        202: {"description": "Stored: Kafka acknowledged the record."},
        400: {"description": "Malformed body (bad JSON, bad gzip, empty)."},
        413: {"description": "Body too large."},
        415: {"description": "Unsupported content type or encoding."},
        401: {"description": "No property key, where the deployment requires one."},
        403: {"description": "Unknown or revoked property key, or an origin the property does not allow."},
        422: {
            "description": "Valid JSON that breaks the beacon schema, or with times the server refuses (more "
            "than 24 h from its clock, or older than the raw-event retention); the reason names each field."
        },
        503: {"description": "Kafka unavailable, or property keys not loaded yet; retry after Retry-After seconds."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Beacon"}}},
        }
    },
)
async def post_beacon(request: Request) -> Response:
    # The hottest route reads app state directly: FastAPI's dependency solving costs more than the rest of it.
    state = request.app.state
    started = time.perf_counter()
    outcome, response = await _handle(request, state.settings, state.sink, state.intake)
    metrics: IngestMetrics = state.metrics
    metrics.outcome("beacons", outcome).inc()
    metrics.latency_of("beacons").observe(time.perf_counter() - started)
    return response


async def _handle(request: Request, settings: Settings, sink: RecordSink, intake: IntakeConfig) -> tuple[str, Response]:
    received_at = int(time.time() * 1000)
    raw = b""
    try:
        raw = await read_body(request, settings.max_body_bytes)
        beacon = Beacon.model_validate_json(raw)
    except BodyError as exc:
        await dead_letter(sink, settings, request, exc.status, exc.reason, exc.raw or raw)
        return "refused", OrjsonResponse({"detail": exc.reason}, status_code=exc.status)
    except ValidationError as exc:
        # Who may post is settled before what is wrong with the post: no schema detail for a stranger.
        try:
            await _property_of(request, _key_in(raw))
        except PropertyRefusedError as refusal:
            return "refused", await refuse_property(request, settings, sink, refusal, raw)
        return "refused", await _refuse_invalid(request, settings, sink, exc, raw)
    try:
        property_id = await _property_of(request, beacon.property_key)
    except PropertyRefusedError as exc:
        return "refused", await refuse_property(request, settings, sink, exc, raw)
    out_of_time = time_errors(beacon, received_at, intake.raw_retention_days)
    if out_of_time:
        return "refused", await _refuse_fields(request, settings, sink, out_of_time, raw)
    try:
        stored = stored_beacon(raw, beacon, intake.hmac_key)
        value = record_value(server_context(request, received_at, intake, property_id), stored)
        await sink.send(settings.topic_beacons, beacon.view_id.encode(), value)
    except BrokerUnavailableError as exc:
        return "unavailable", unavailable(settings, str(exc))
    request.app.state.metrics.events_of("beacons").inc(len(beacon.events))
    return "accepted", OrjsonResponse({"accepted_events": len(beacon.events)}, status_code=202)


async def _property_of(request: Request, key: str | None) -> str:
    check: PropertyCheck = request.app.state.properties
    return await check.property_of(key, request.headers.get("origin"))


def _key_in(raw: bytes) -> str | None:
    """The property key of a body the schema refused, if it has one where a beacon keeps it."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    key = body.get("property_key") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


async def _refuse_invalid(
    request: Request, settings: Settings, sink: RecordSink, exc: ValidationError, raw: bytes
) -> Response:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        reason = f"body is not valid JSON: {first['ctx'].get('error', first['msg'])}"
        await dead_letter(sink, settings, request, 400, reason, raw)
        return OrjsonResponse({"detail": reason}, status_code=400)
    if first["type"] == "model_type":
        reason = "body must be one beacon: a JSON object"
        await dead_letter(sink, settings, request, 422, reason, raw)
        return OrjsonResponse({"detail": reason}, status_code=422)
    return await _refuse_fields(request, settings, sink, describe(exc), raw)


async def _refuse_fields(
    request: Request, settings: Settings, sink: RecordSink, details: Sequence[ErrorDetail], raw: bytes
) -> Response:
    """422 naming each field, and the body kept on the dead-letter topic with the same reasons."""
    reason = "; ".join(f"{d.field}: {d.message}" for d in details)
    await dead_letter(sink, settings, request, 422, reason, raw, details)
    content = {"detail": [d.model_dump() for d in details], "reason": reason}
    return OrjsonResponse(content, status_code=422)
