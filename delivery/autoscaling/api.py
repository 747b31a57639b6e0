"""``GET /v1/autoscaling/signals``: the signal document for KEDA's metrics-api scaler.

KEDA reads one number with a GJSON path, e.g. ``valueLocation: regions.eu.tiers.edge.desired_replicas``
(docs/autoscaling.md has a full ScaledObject). ``?region=eu`` narrows the document to one region.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency, a local, at definition time.

import logging
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from delivery.autoscaling.signals import AutoscalingSignals, DemandUnavailableError

log = logging.getLogger(__name__)


class SignalError(BaseModel):
    error: str = Field(description="Why there is no signal.")


_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": SignalError, "description": "No fresh demand data for this region."},
    503: {"model": SignalError, "description": "The demand data cannot be read: KEDA falls back to its replicas."},
}


def signals_from_app_state(request: Request) -> AutoscalingSignals:
    signals: AutoscalingSignals = request.app.state.autoscaling
    return signals


def _json(document: object, status_code: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json")


def autoscaling_router(
    get_signals: Callable[..., AutoscalingSignals] = signals_from_app_state,
) -> APIRouter:
    router = APIRouter(prefix="/v1/autoscaling", tags=["autoscaling"])
    signals_dependency = Depends(get_signals)

    @router.get(
        "/signals", summary="desired replicas per tier and region, with the demand forecast", responses=_REFUSALS
    )
    def signals(signals: Annotated[AutoscalingSignals, signals_dependency], region: str = "") -> Response:
        try:
            document = signals.document()
        except DemandUnavailableError as exc:
            # Say so rather than guess; KEDA then scales to the ScaledObject's fallback replicas.
            log.warning("autoscaling signal unavailable: %s", exc)
            return _json({"error": f"demand data unavailable: {exc}"}, 503)
        if region:
            if region not in document["regions"]:
                return _json({"error": f"no fresh demand data for region {region[:64]!r}"}, 404)
            document = {**document, "regions": {region: document["regions"][region]}}
        return _json(document)

    return router
