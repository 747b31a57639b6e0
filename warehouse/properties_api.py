"""``/v1/properties``: the properties and their public keys (admin only, tag ``admin``).

* ``POST /v1/properties``: create a property; its key is in the answer (keys are public: any
  admin may read them again).
* ``GET /v1/properties``: every property, revoked ones included. The gateway loads its key
  snapshot (:class:`foundation.properties.PropertyKeys`) from it with an admin token, since it may
  not read the warehouse: one small FINAL query.
* ``DELETE /v1/properties/{property_id}``: revoke a property's key.

Used by ``qoe properties`` while the platform holds the embedded warehouse; the table is
:mod:`warehouse.properties`'s.
"""

# No `from __future__ import annotations`: FastAPI must see the request models at definition time.

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from foundation.access import ADMIN_TAG
from foundation.http import OrjsonResponse, problem, problems
from warehouse.access_api import principal_of, who
from warehouse.deps import WarehouseDep
from warehouse.properties import (
    MAX_NAME_LENGTH,
    MAX_ORIGINS,
    PropertyError,
    PropertyExistsError,
    create_property,
    list_properties,
    revoke_property,
)

PROPERTIES_ROUTE = "/v1/properties"
PropertyId = Annotated[str, Path(description="The property's id: a slug of a-z 0-9 -.")]


class NewProperty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    property_id: str = Field(description="A slug: 1 to 63 of a-z 0-9 -, starting with a letter or digit.")
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="What the property is, e.g. web player.")
    origins: list[str] = Field(
        default_factory=list,
        max_length=MAX_ORIGINS,
        description="Browser origins allowed to post with the key (https://www.example.com, https://*.example.com); "
        "none: any. Apps without an Origin header are judged by the key alone.",
    )


def properties_router() -> APIRouter:
    """Create, list and revoke properties; every route needs the admin scope."""
    router = APIRouter(tags=[ADMIN_TAG])

    @router.post(
        PROPERTIES_ROUTE,
        status_code=201,
        summary="Admin: create a property and its public key",
        responses=problems(
            {
                400: "The body cannot be read as JSON (FastAPI's answer to bytes that are not UTF-8).",
                409: "An active property holds this id (revoke it first to give it a new key).",
                422: "A bad body: a field FastAPI refuses (a list), or an id, name or origin the store refuses "
                "(a message).",
            }
        ),
    )
    def create(body: NewProperty, request: Request, client: WarehouseDep) -> OrjsonResponse:
        try:
            created = create_property(client, body.property_id, body.name, body.origins, who(principal_of(request)))
        except PropertyError as exc:
            return problem(422, str(exc))
        except PropertyExistsError as exc:
            return problem(409, str(exc))
        return OrjsonResponse(created.to_json(), status_code=201)

    @router.get(PROPERTIES_ROUTE, summary="Admin: every property with its key, revoked ones included")
    def listing(client: WarehouseDep) -> OrjsonResponse:
        return OrjsonResponse({"properties": [prop.to_json() for prop in list_properties(client)]})

    @router.delete(
        f"{PROPERTIES_ROUTE}/{{property_id}}",
        summary="Admin: revoke a property's key",
        responses=problems({404: "No property with this id."}),
    )
    def revoke(property_id: PropertyId, request: Request, client: WarehouseDep) -> OrjsonResponse:
        revoked = revoke_property(client, property_id, who(principal_of(request)))
        if revoked is None:
            return problem(404, f"no property {property_id!r}")
        return OrjsonResponse(revoked.to_json())

    return router
