"""HTTP endpoints of content steering.

``GET /v1/steering/hls`` and ``GET /v1/steering/dash`` answer players with a steering manifest;
``GET /v1/steering/decision`` answers other delivery components with the group's decision as
JSON. The service comes from a FastAPI dependency, by default ``request.app.state.steering``.

The manifest endpoints are lenient (see :mod:`delivery.steering.manifest`): unreadable input
makes the group coarser or is ignored, and only oversized requests get a 4xx. The decision
endpoint is strict instead: its callers are our own services, and a typo there should surface.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency, a local, at definition time.

import logging
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from delivery.steering.manifest import (
    Protocol,
    SteeringQuery,
    SteeringQueryError,
    check_query_size,
    parse_asn,
    parse_country,
    parse_query,
)
from delivery.steering.policy import Decision
from delivery.steering.service import SteeringService
from schemas.steering import STREAM_TYPES, CdnScore, Group, device_class

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}  # per-client answers: never cached by a CDN
# Browser players fetch the manifest from their page's origin: it is public and carries no
# credentials, so any origin may read it (hls.js, dash.js and Shaka fetch it with CORS).
MANIFEST_HEADERS = {**NO_STORE, "Access-Control-Allow-Origin": "*"}


class SteeringError(BaseModel):
    error: str = Field(description="Why the request was refused.")


def _refusals(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the statuses a route answers with :func:`_error`."""
    return {status: {"model": SteeringError, "description": text} for status, text in descriptions.items()}


_TOO_LONG = {414: "Query string too long.", 400: "Too many query parameters, or one too long."}
MANIFEST_REFUSALS = _refusals({**_TOO_LONG, 410: "Content steering is switched off here."})
DECISION_REFUSALS = _refusals(
    {**_TOO_LONG, 400: "Too many or too long query parameters, or a country, asn, device or stream_type unknown."}
)


def service_from_app_state(request: Request) -> SteeringService:
    service: SteeringService = request.app.state.steering
    return service


def _json(document: Any, status_code: int = 200, headers: dict[str, str] = NO_STORE) -> Response:
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json", headers=headers)


def _error(status_code: int, message: str, headers: dict[str, str] = NO_STORE) -> Response:
    return _json({"error": message}, status_code, headers)


def decision_json(decision: Decision) -> dict[str, Any]:
    group_decision = decision.group_decision
    return {
        "group": group_decision.group.key,
        "priority": list(decision.priority),
        "version": group_decision.version,
        "changed": decision.changed,
        "decided_at": group_decision.decided_at.isoformat(),
        "reason": {"code": decision.reason.code.value, "text": decision.reason.text},
        "figures": {
            pathway: {
                "cdn": figure.cdn,
                "qoe": figure.lookup.score.qoe_score,
                "adjusted": figure.adjusted,
                "views": figure.lookup.score.views,
                "rebuffering_ratio": figure.lookup.score.rebuffering_ratio,
                "vst_p50_ms": figure.lookup.score.vst_p50_ms,
                "failure_rate": figure.lookup.score.failure_rate,
                "group": figure.lookup.score.group.key,
                "backoff_level": figure.lookup.level,
                "window_end": figure.lookup.score.window_end.isoformat(),
            }
            for pathway, figure in group_decision.figures.items()
        },
    }


def _strict_group(country: str, asn: str, device: str, stream_type: str) -> Group:
    """The decision endpoint's group; raises SteeringQueryError(400) on anything unreadable."""
    parsed_country = parse_country(country) if country else ""
    if parsed_country is None:
        raise SteeringQueryError(400, f"country {country[:40]!r} is not an ISO alpha-2 code or region label")
    parsed_asn = parse_asn(asn) if asn else None
    if asn and parsed_asn is None:
        raise SteeringQueryError(400, f"asn {asn[:40]!r} is not an AS number")
    parsed_device = device_class(device) if device else ""
    if device and not parsed_device:
        raise SteeringQueryError(400, f"device {device[:40]!r} is not a known device class")
    if stream_type and stream_type not in STREAM_TYPES:
        raise SteeringQueryError(400, f"stream_type must be one of {sorted(STREAM_TYPES)}")
    return Group(parsed_country, parsed_asn, parsed_device, stream_type)


def steering_router(
    get_service: Callable[..., SteeringService] = service_from_app_state,
) -> APIRouter:
    """The steering endpoints, bound to the service that ``get_service`` (a dependency) returns."""
    router = APIRouter(prefix="/v1/steering", tags=["steering"])
    service_dependency = Depends(get_service)

    def manifest_response(request: Request, service: SteeringService, protocol: Protocol) -> Response:
        if not service.config.enabled:
            return _error(410, "content steering is switched off", MANIFEST_HEADERS)
        try:
            query = parse_query(request.query_params.multi_items(), protocol, service.pathways, request.url.query)
        except SteeringQueryError as exc:
            return _error(exc.status_code, str(exc), MANIFEST_HEADERS)
        return _json(_manifest_or_default(service, query), headers=MANIFEST_HEADERS)

    @router.get("/hls", summary="HLS content steering manifest", responses=MANIFEST_REFUSALS)
    async def hls_manifest(request: Request, service: Annotated[SteeringService, service_dependency]) -> Response:
        return manifest_response(request, service, "hls")

    @router.get("/dash", summary="DASH content steering manifest", responses=MANIFEST_REFUSALS)
    async def dash_manifest(request: Request, service: Annotated[SteeringService, service_dependency]) -> Response:
        return manifest_response(request, service, "dash")

    @router.get(
        "/decision",
        summary="the group's current pathway priority, for delivery components",
        responses=DECISION_REFUSALS,
    )
    async def decision(
        request: Request,
        service: Annotated[SteeringService, service_dependency],
        country: str = "",
        asn: str = "",
        device: str = "",
        stream_type: str = "",
    ) -> Response:
        try:
            check_query_size(request.url.query, request.query_params.multi_items())
            group = _strict_group(country, asn, device, stream_type)
        except SteeringQueryError as exc:
            return _error(exc.status_code, str(exc))
        return _json(decision_json(service.steer(group, explore=False)))

    return router


def score_json(score: CdnScore) -> dict[str, Any]:
    return {
        "cdn": score.cdn,
        "group": score.group.key,
        "views": score.views,
        "rebuffering_ratio": score.rebuffering_ratio,
        "vst_p50_ms": score.vst_p50_ms,
        "failure_rate": score.failure_rate,
        "avg_bitrate_kbps": score.avg_bitrate_kbps,
        "qoe_score": score.qoe_score,
        "window_end": score.window_end.isoformat(),
        "window_s": score.window_s,
    }


def state_router(
    get_service: Callable[..., SteeringService] = service_from_app_state,
) -> APIRouter:
    """What this replica knows, for dashboards and operators: the board and each group's order."""
    router = APIRouter(prefix="/v1/steering", tags=["steering"])
    service_dependency = Depends(get_service)

    @router.get("/scores", summary="the live CDN figures on this replica's board")
    async def scores(service: Annotated[SteeringService, service_dependency]) -> Response:
        board = sorted(service.board, key=lambda s: (s.group.key, s.cdn))
        return _json({"scores": [score_json(score) for score in board], "rejected": service.board.rejected})

    @router.get("/groups", summary="each group's current pathway priority on this replica")
    async def groups(service: Annotated[SteeringService, service_dependency]) -> Response:
        rows = [
            {
                "group": group.key,
                "priority": list(state.priority),
                "version": state.version,
                "changed_at": state.changed_at.isoformat() if state.changed_at else None,
                "challenger": state.challenger,
            }
            for group, state in service.group_states()
        ]
        return _json({"instance": service.instance, "groups": rows})

    return router


def _manifest_or_default(service: SteeringService, query: SteeringQuery) -> dict[str, Any]:
    try:
        document, _ = service.manifest(query)
    except Exception:
        # A bug in deciding must not cost the viewer: the safe default order is always valid.
        log.exception("steering decision failed for %s; answering the default order", query.group.key)
        return service.default_manifest(query)
    return document
