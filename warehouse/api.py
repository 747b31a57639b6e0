"""Warehouse-side HTTP routes of the raw-event read model."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from foundation.http import OrjsonResponse, problem, problems
from warehouse import events as raw
from warehouse.deps import WarehouseDep

router = APIRouter(tags=["events"])


@router.get("/v1/events/summary", summary="Rows stored, distinct events and views: the pipeline's pulse")
def summary(
    client: WarehouseDep, minutes: Annotated[int | None, Query(ge=1, le=60 * 24 * 366)] = None
) -> OrjsonResponse:
    return OrjsonResponse(raw.event_summary(client, minutes))


@router.get(
    "/v1/events",
    summary="One view's raw events, in sequence order",
    responses=problems({404: "No event of this view is stored."}),
)
def events(client: WarehouseDep, view_id: Annotated[str, Query(min_length=1, max_length=64)]) -> OrjsonResponse:
    frame = raw.view_events(client, view_id)
    if frame.empty:
        return problem(404, f"no events for view {view_id!r}")
    frame["attrs"] = frame["attrs"].map(orjson.loads)
    return OrjsonResponse({"view_id": view_id, "events": frame.to_dict(orient="records")})
