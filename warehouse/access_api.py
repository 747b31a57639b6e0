"""Access control of the warehouse-side API, and its token routes.

* :func:`token_guard`: the dependency the composition root puts on every router it serves
  (``warehouse.app.create_api``): a route tagged ``admin`` needs the admin scope, every other one
  read. The principal lands in ``request.state.principal``.
* ``GET /v1/auth/whoami``: who a token is, for any valid token. The gateway asks it to check the
  tokens of the routes it serves itself (it may not read the warehouse).
* ``POST /v1/keys``, ``GET /v1/keys``, ``DELETE /v1/keys/{token_id}`` (tag ``admin``): token
  management, used by ``qoe keys`` while the platform holds the embedded warehouse.
"""

# No `from __future__ import annotations`: FastAPI must see the request models at definition time.

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from foundation.access import ADMIN_TAG, AccessDeniedError, Principal, Scope, TokenVerifier, parse_scopes
from foundation.http import OrjsonResponse, problem, problems
from warehouse.access import bindable_property, create_token, list_tokens, revoke_token
from warehouse.deps import WarehouseDep

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The token's id: 16 hex digits.")]


# Declares the scheme in the OpenAPI (the docs' Authorize button); the guard reads the header itself.
BEARER = HTTPBearer(auto_error=False, scheme_name="accessToken", description="qoe_<id>_<secret>")


def token_guard(verifier: TokenVerifier) -> Callable[..., None]:
    """A dependency admitting a request whose token holds the scope its route needs."""

    def guard(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        tags = getattr(request.scope.get("route"), "tags", None) or []
        needed = Scope.ADMIN if ADMIN_TAG in tags else Scope.READ
        request.state.principal = verifier.authorize(request.headers.get("authorization"), needed)

    return guard


def principal_of(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def every_property(request: Request) -> None:
    """Refuses a token bound to a property on a route whose data is not kept per property (yet):
    its answer could show another property's viewers."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and principal.property_id:
        raise AccessDeniedError(
            403,
            f"token {principal.token_id} reads property {principal.property_id} only; this route is not per property",
        )


EveryProperty = Depends(every_property)


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What the token is for, e.g. grafana or ci.")
    scopes: list[str] = Field(min_length=1, description="read and/or admin; admin implies read.")
    property: str | None = Field(
        None,
        max_length=63,
        description="Bind the token to this property (an id of GET /v1/properties): it reads that property's "
        "data only. Read scope only: administration is not per property. Omitted: every property.",
    )


def access_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/auth/whoami", tags=["auth"], summary="The token this request presents: id, name and scopes")
    def whoami(request: Request) -> OrjsonResponse:
        return OrjsonResponse(principal_of(request).to_json())

    @router.post(
        "/v1/keys",
        tags=[ADMIN_TAG],
        status_code=201,
        summary="Admin: create an access token (its secret shown once)",
        # Replaces FastAPI's 422, whose detail is always a list: an unknown scope's is a message.
        responses=problems(
            {
                400: "The body cannot be read as JSON (FastAPI's answer to bytes that are not UTF-8).",
                422: "A bad body: a field FastAPI refuses (a list), or an unknown scope, an unknown property or "
                "an admin token bound to a property (a message).",
            }
        ),
    )
    def create(body: NewToken, request: Request, client: WarehouseDep) -> OrjsonResponse:
        try:
            scopes = parse_scopes(body.scopes)
            property_id = bindable_property(client, body.property, scopes)
        except ValueError as exc:
            return problem(422, str(exc))
        issued = create_token(client, body.name, scopes, who(principal_of(request)), property_id=property_id)
        return OrjsonResponse(issued.to_json(), status_code=201)

    @router.get("/v1/keys", tags=[ADMIN_TAG], summary="Admin: every access token, revoked ones included (no secrets)")
    def listing(client: WarehouseDep) -> OrjsonResponse:
        return OrjsonResponse({"tokens": [info.to_json() for info in list_tokens(client)]})

    @router.delete(
        "/v1/keys/{token_id}",
        tags=[ADMIN_TAG],
        summary="Admin: revoke an access token",
        responses=problems({404: "No token with this id."}),
    )
    def revoke(token_id: TokenId, request: Request, client: WarehouseDep) -> OrjsonResponse:
        info = revoke_token(client, token_id, who(principal_of(request)))
        if info is None:
            return problem(404, f"no token {token_id}")
        return OrjsonResponse(info.to_json())

    return router


def who(principal: Principal) -> str:
    """How a change's author is recorded: the token that made it, and its name."""
    return f"token:{principal.token_id} ({principal.name})"
