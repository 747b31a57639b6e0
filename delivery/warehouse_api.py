"""Delivery's routes on the warehouse-side API (``qoe.api.warehouse_routers``).

* ``/v1/autoscaling/signals`` and ``/v1/autoscaling/metrics`` (:mod:`delivery.autoscaling.warehouse`).
* ``/v1/steering/decisions``: the newest priority changes from ``steering_decisions``, and
  ``/v1/steering/priorities``: each group's latest priority. The gateway serves the live
  steering routes itself and forwards these two here.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency, a local, at definition time.

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Query, Request

from delivery.autoscaling.warehouse import warehouse_autoscaling_router
from foundation.http import OrjsonResponse
from warehouse import steering as decisions


def delivery_warehouse_router() -> APIRouter:
    router = APIRouter()
    router.include_router(warehouse_autoscaling_router())
    steering = APIRouter(prefix="/v1/steering", tags=["steering"])

    @steering.get("/decisions", summary="the newest steering priority changes, with reasons and figures")
    def recent(
        request: Request,
        minutes: Annotated[int, Query(ge=1, le=60 * 24 * 180)] = 60,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> OrjsonResponse:
        client: Client = request.app.state.warehouse
        return OrjsonResponse({"decisions": decisions.records(decisions.recent_decisions(client, minutes, limit))})

    @steering.get("/priorities", summary="each group's latest steering priority, per replica")
    def priorities(
        request: Request,
        minutes: Annotated[int, Query(ge=1, le=60 * 24 * 180)] = 24 * 60,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> OrjsonResponse:
        client: Client = request.app.state.warehouse
        return OrjsonResponse({"groups": decisions.records(decisions.current_priorities(client, minutes, limit))})

    router.include_router(steering)
    return router
