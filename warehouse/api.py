"""Warehouse-side HTTP routes of the raw-event read model.

Tenancy: a token bound to a property reads the events posted for its property only (each raw
event keeps its record's property): the summary counts those, and a view with none of them is
answered 404 like an unknown one, so a token learns nothing of other properties' views.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from foundation.http import OrjsonResponse, problem, problems
from warehouse import events as raw
from warehouse.deps import BoundPropertyDep, WarehouseDep

router = APIRouter(tags=["events"])


@router.get(
    "/v1/events/summary",
    summary="Rows stored, distinct events and views: the pipeline's pulse",
    description="Over every property; for a token bound to a property, over the events posted for it only.",
)
def summary(
    client: WarehouseDep, bound: BoundPropertyDep, minutes: Annotated[int | None, Query(ge=1, le=60 * 24 * 366)] = None
) -> OrjsonResponse:
    return OrjsonResponse(raw.event_summary(client, minutes, property_id=bound))


@router.get(
    "/v1/events",
    summary="One view's raw events, in sequence order",
    description="For a token bound to a property, only the events posted for it.",
    responses=problems(
        {404: "No event of this view is stored (for a token bound to a property: none posted for its property)."}
    ),
)
def events(
    client: WarehouseDep, bound: BoundPropertyDep, view_id: Annotated[str, Query(min_length=1, max_length=64)]
) -> OrjsonResponse:
    frame = raw.view_events(client, view_id, property_id=bound)
    if frame.empty:
        return problem(404, f"no events for view {view_id!r}")
    frame["attrs"] = frame["attrs"].map(orjson.loads)
    return OrjsonResponse({"view_id": view_id, "events": frame.to_dict(orient="records")})
