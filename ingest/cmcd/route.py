"""``POST /v1/cmcd``: CMCD v2 event-mode reports, parsed, mapped and sent to the ``beacons`` topic.

The records become beacon records (the value shape of ``ingest.beacons.record_value``, with
``sdk = {"name": "cmcd", "version": <v>}``), keyed by view id. 202 only once Kafka acknowledged.

Answers follow CMCD: 410 tells the player to stop (reporting switched off here), 503 with
Retry-After means retry, 400 names the line and key that are wrong (and the report goes to
the dead-letter topic). A report is accepted or refused whole. The beacons built obey the same
rules as posted ones: the schema's bounds, the server's clock (``ingest.intake``), and viewer ids
hashed when a key is set (``ingest.privacy``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from foundation.http import OrjsonResponse
from foundation.settings import Settings
from ingest.beacons import dead_letter, record_value, refuse_property, server_context, unavailable
from ingest.body import BodyError, read_body
from ingest.cmcd.parse import SEQ_STRIDE, LineError, parse_report
from ingest.cmcd.state import PlayStates, SessionReport, map_report, session_beacons
from ingest.errors import describe
from ingest.intake import IntakeConfig, time_errors
from ingest.metrics import IngestMetrics
from ingest.privacy import pseudonymised
from ingest.producer import BrokerUnavailableError, RecordSink
from ingest.properties import PropertyRefusedError
from schemas import Beacon, ErrorDetail, ServerContext
from schemas.beacon import PROPERTY_KEY_PATTERN

router = APIRouter()

CMCD_CONTENT_TYPES = ("application/cmcd", "text/plain", "")  # text/plain: navigator.sendBeacon
MAX_ERRORS_REPORTED = 20
PROPERTY_KEY_PARAM = "property_key"  # in the reporting URL the player is given: no header is needed
_EXAMPLE_REPORT = (
    'e=ps,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=2,sta=s,ts=1700000000000,v=2\n'
    'br=(2800),cid="bbb",e=ps,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",sn=3,sta=p,ts=1700000000450,v=2\n'
)


@dataclass
class CmcdIngest:
    """The route's configuration and memory, kept on ``app.state.cmcd``."""

    enabled: bool = True
    states: PlayStates = field(default_factory=PlayStates)


async def read_report(request: Request, max_bytes: int) -> bytes:
    """The decoded body: 415 for other content types, 413 past ``max_bytes``, 400 when empty or bad gzip."""
    return await read_body(request, max_bytes, CMCD_CONTENT_TYPES, "application/cmcd", "send one CMCD record per line")


@router.post(
    "/v1/cmcd",
    status_code=202,
    summary="CMCD v2 event-mode reports (application/cmcd, one record per line)",
    responses={
        202: {"description": "Stored: Kafka acknowledged every view's record."},
        400: {"description": "A line is not a CMCD record; the answer names the line and key."},
        401: {"description": "No property_key, where the deployment requires one."},
        403: {"description": "Unknown or revoked property key, or an origin the property does not allow."},
        410: {"description": "CMCD reporting is switched off here: the player should stop sending."},
        413: {"description": "Body too large."},
        415: {"description": "Unsupported content type or encoding."},
        503: {"description": "Kafka unavailable, or property keys not loaded yet; retry after Retry-After seconds."},
    },
    openapi_extra={
        "parameters": [
            {
                "name": PROPERTY_KEY_PARAM,
                "in": "query",
                "required": False,
                "description": "The property's public key (qoe properties create).",
                "schema": {"type": "string", "pattern": PROPERTY_KEY_PATTERN},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/cmcd": {"schema": {"type": "string"}, "example": _EXAMPLE_REPORT}},
        },
    },
)
async def post_cmcd(request: Request) -> Response:
    state = request.app.state
    started = time.perf_counter()
    outcome, response = await _handle(request, state.settings, state.sink, state.cmcd, state.intake)
    metrics: IngestMetrics = state.metrics
    metrics.outcome("cmcd", outcome).inc()
    metrics.latency_of("cmcd").observe(time.perf_counter() - started)
    return response


async def _handle(
    request: Request, settings: Settings, sink: RecordSink, cmcd: CmcdIngest, intake: IntakeConfig
) -> tuple[str, Response]:
    if not cmcd.enabled:
        return "refused", OrjsonResponse({"detail": "CMCD reporting is switched off on this server"}, status_code=410)
    received_at = int(time.time() * 1000)
    raw = b""
    try:
        # Who may post is settled first: the key is in the URL, so no body is read for a stranger.
        property_id = await request.app.state.properties.property_of(
            request.query_params.get(PROPERTY_KEY_PARAM), request.headers.get("origin")
        )
    except PropertyRefusedError as exc:
        return "refused", await refuse_property(request, settings, sink, exc, raw)
    try:
        raw = await read_report(request, settings.max_body_bytes)
        records, errors = parse_report(raw.decode("utf-8"))
    except BodyError as exc:
        await dead_letter(sink, settings, request, exc.status, exc.reason, exc.raw or raw)
        return "refused", OrjsonResponse({"detail": exc.reason}, status_code=exc.status)
    except UnicodeDecodeError as exc:
        errors, records = [LineError(raw[: exc.start].count(b"\n") + 1, "", "the line is not UTF-8 text")], []
    if errors:
        return "refused", await _refuse(request, settings, sink, raw, errors)
    sessions = map_report(records, cmcd.states)
    try:
        batches = [(session, session_beacons(session)) for session in sessions]
    except ValidationError as exc:  # the parser checks ranges first; this is the contract's last word
        cmcd.states.give_back(c for session in sessions for c in session.changes)
        return "refused", await _refuse(request, settings, sink, raw, [], describe(exc))
    out_of_time = _time_errors(batches, received_at, intake)
    if out_of_time:  # the same clock rules as beacons: whole report refused, nothing half sent
        cmcd.states.give_back(c for session in sessions for c in session.changes)
        return "refused", await _refuse(request, settings, sink, raw, [], out_of_time)
    server = server_context(request, received_at, intake, property_id)
    key = intake.hmac_key
    sent = await asyncio.gather(*(_send(sink, settings, server, b, key) for _, b in batches), return_exceptions=True)
    failed = [(session, outcome) for (session, _), outcome in zip(batches, sent, strict=True) if outcome is not None]
    if failed:
        cmcd.states.give_back(c for session, _ in failed for c in session.changes)
        if all(isinstance(outcome, BrokerUnavailableError) for _, outcome in failed):
            return "unavailable", unavailable(settings, str(failed[0][1]))
        raise failed[0][1]  # not an outage: a bug, for the server's error handler
    events = sum(len(beacon.events) for _, batch in batches for beacon in batch)
    request.app.state.metrics.events_of("cmcd").inc(events)
    return "accepted", OrjsonResponse({"accepted_records": len(records), "accepted_events": events}, status_code=202)


def _time_errors(
    batches: Sequence[tuple[SessionReport, list[Beacon]]], received_at: int, intake: IntakeConfig
) -> list[ErrorDetail]:
    """What the server's clock refuses in the beacons of a report, named as the player wrote it."""
    errors = []
    for session, beacons in batches:
        lines = {record.sn: record.line for record in session.records}
        for beacon in beacons:
            for error in time_errors(beacon, received_at, intake.raw_retention_days):
                errors.append(ErrorDetail(field=_reported_field(beacon, error.field, lines), message=error.message))
    return errors[:MAX_ERRORS_REPORTED]


def _reported_field(beacon: Beacon, field: str, lines: dict[int, int]) -> str:
    """``events[i].ts`` of a beacon built from CMCD records → the line (or ``sn``) and key ``ts`` sent.

    The player sent no beacon; an event's seq says which record it came from (``SEQ_STRIDE``). A
    play-state change that waited for this report came in an earlier one: it is named by its sn.
    """
    if not field.startswith("events["):
        return field
    sn = beacon.events[int(field.removeprefix("events[").split("]", 1)[0])].seq // SEQ_STRIDE
    return f"line {lines[sn]}: ts" if sn in lines else f"sn {sn}: ts"


async def _send(
    sink: RecordSink, settings: Settings, server: ServerContext, beacons: list[Beacon], hmac_key: bytes | None
) -> None:
    """One session's beacons, each acknowledged by Kafka before this returns (viewer ids hashed if set)."""
    for beacon in beacons:
        value = record_value(server, pseudonymised(beacon, hmac_key).model_dump_json(exclude_none=True).encode())
        await sink.send(settings.topic_beacons, beacon.view_id.encode(), value)


async def _refuse(
    request: Request,
    settings: Settings,
    sink: RecordSink,
    raw: bytes,
    errors: Sequence[LineError],
    details: Sequence[ErrorDetail] = (),
) -> Response:
    shown = [e.detail() for e in errors[:MAX_ERRORS_REPORTED]] + list(details)
    reason = "; ".join(f"{d.field}: {d.message}" for d in shown)
    await dead_letter(sink, settings, request, 400, reason, raw, shown)
    content = {"detail": [d.model_dump() for d in shown], "reason": reason, "refused_lines": len(errors)}
    return OrjsonResponse(content, status_code=400)
