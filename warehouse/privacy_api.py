"""``POST /v1/privacy/erasure``: erase one viewer (admin only, tag ``admin``).

ADMIN ONLY. The route deletes data on request, so only an operator may call it: the warehouse
API answers every route tagged ``admin`` only to an access token with the ``admin`` scope
(``qoe.api``, docs/security.md).

The erasure runs here, in the process that holds the warehouse (:mod:`warehouse.privacy`). What
else keeps something of the viewer (the recommender's model) is told afterwards through the
``followups`` the composition root gives the router (``qoe.api``), when the erasure removed
anything; each answers one line that the response reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from foundation.http import OrjsonResponse, problems
from foundation.settings import Settings
from schemas.beacon import Id
from warehouse.deps import SettingsDep, WarehouseDep
from warehouse.privacy import erase_viewer, stored_viewer_id

# What a follow-up of an erasure does, given the warehouse and the settings, in one line.
Followup = Callable[[Client, Settings], str]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    viewer_id: Id = Field(
        description="The viewer id as players send it (1 to 64 of A-Z a-z 0-9 _ . : -); with QOE_VIEWER_ID_HMAC_KEY "
        "set, the platform erases the HMAC it stored in its place."
    )
    requested_by: str = Field(
        "", max_length=200, description="Who asked (an operator, a ticket); stored in the erasure log."
    )


def privacy_router(followups: Mapping[str, Followup] | None = None) -> APIRouter:
    """The erasure route; ``followups`` run after the warehouse is erased, by name."""
    after = dict(followups or {})
    router = APIRouter(tags=["admin"])

    @router.post(
        "/v1/privacy/erasure",
        summary="Admin: erase one viewer's events, views and recommender history, and log it",
        responses=problems({400: "The body cannot be read as JSON (FastAPI's answer to bytes that are not UTF-8)."}),
    )
    def erase(body: ErasureRequest, client: WarehouseDep, settings: SettingsDep) -> OrjsonResponse:
        """**Admin only.** Deletes every stored row of the viewer (raw events, views, view deltas,
        and with them the recommender's history of the viewer) and returns when they are gone, with
        the rows removed per table. The erasure log keeps the SHA-256 of the viewer id, not the id."""
        report = erase_viewer(client, stored_viewer_id(body.viewer_id, settings), body.requested_by or "api")
        # Nothing stored of the viewer: nothing else can hold anything learnt from it either.
        notes = {name: followup(client, settings) for name, followup in after.items() if report.removed_anything}
        return OrjsonResponse({**report.to_json(), "followups": notes})

    return router
