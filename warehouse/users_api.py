"""``/v1/dashboard-users``: the dashboards' users, managed by ``qoe users`` (admin only, tag ``admin``).

ADMIN ONLY. These routes set passwords and roles, so only an operator may call them: like the
erasure route they are tagged ``admin``, which the gateway never forwards; operators and the
``qoe users`` command reach them on the internal warehouse API. They exist because the embedded
warehouse opens in one process only: while the platform runs, ``qoe users`` asks the process
that holds it (as ``qoe erase`` does). The password travels in the request body, never in the
URL or a log line.

Tenancy: a ``read`` user may be bound to one property (``property``), whose data alone the
dashboards show it; a change that names no property (omitted or null) keeps the user's, ``""``
unbinds it (:func:`warehouse.users.save_user`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from foundation.http import OrjsonResponse, problem, problems
from warehouse.deps import WarehouseDep
from warehouse.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    NAME,
    Role,
    UserError,
    disable_user,
    list_users,
    save_user,
)

USERS_ROUTE = "/v1/dashboard-users"
UserName = Annotated[str, Path(pattern=NAME.pattern, description="The user name.")]


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    role: Role
    updated_by: str = Field("", max_length=200, description="Who made the change, for the table's record.")
    property: str | None = Field(
        None,
        max_length=63,
        description="Bind the user to this property (an id of GET /v1/properties, active): the dashboards show "
        "it that property's data only. Read role only: administration is not per property. Empty: every "
        "property. Omitted or null: the user's property is kept (a new user: every property).",
    )


class Disabling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    updated_by: str = Field("", max_length=200)


def users_router() -> APIRouter:
    """List, create or update, and disable the dashboards' users."""
    router = APIRouter(tags=["admin"])

    @router.get(USERS_ROUTE, summary="Admin: the dashboards' users")
    def users(client: WarehouseDep) -> OrjsonResponse:
        """**Admin only.** Every user with its role, state and property (null: every property);
        never a password or its hash."""
        return OrjsonResponse({"users": [user.to_json() for user in list_users(client)]})

    @router.put(
        f"{USERS_ROUTE}/{{name}}",
        summary="Admin: create a dashboards user or set its password, role and property",
        responses=problems(
            {
                400: "The body cannot be read as JSON (FastAPI's answer to bytes that are not UTF-8).",
                422: "A bad body: a field FastAPI refuses (a list), or a password or property the store refuses: "
                "no active property of that id, an admin bound to a property, a bound user made admin without "
                "unbinding it (a message).",
            }
        ),
    )
    def put_user(name: UserName, body: UserChange, client: WarehouseDep) -> OrjsonResponse:
        """**Admin only.** Creates the user, or gives it this password and role (and property, when
        one is given) and enables it (its open sessions end)."""
        password, by = body.password.get_secret_value(), body.updated_by or "api"
        try:
            user = save_user(client, name, password, body.role, by, property_id=body.property)
        except UserError as exc:
            return problem(422, str(exc))
        return OrjsonResponse(user.to_json())

    @router.post(
        f"{USERS_ROUTE}/{{name}}/disable",
        summary="Admin: disable a dashboards user",
        responses=problems(
            {
                400: "The body cannot be read as JSON (FastAPI's answer to bytes that are not UTF-8).",
                404: "No dashboards user of this name.",
            }
        ),
    )
    def disable(name: UserName, body: Disabling, client: WarehouseDep) -> OrjsonResponse:
        """**Admin only.** The user can no longer sign in, and its open sessions end."""
        user = disable_user(client, name, body.updated_by or "api")
        if user is None:
            return problem(404, f"no dashboards user {name!r}")
        return OrjsonResponse(user.to_json())

    return router
