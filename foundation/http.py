"""HTTP helpers every API of the platform shares."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson: datetimes as ISO-8601 with offset, numpy scalars as numbers.

    A JSONResponse, so FastAPI documents an answer without a response model as any JSON value
    (``{}``); from a plain Response it documented ``{"type": "string"}``, which no answer is.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(content, default=_subclassed_datetime, option=options)


def _subclassed_datetime(value: Any) -> str:
    # orjson renders datetime itself but not its subclasses, such as the pandas Timestamps of query frames.
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> OrjsonResponse:
    """An error answer: ``{"detail": ...}`` like FastAPI's own errors, so clients parse one shape."""
    return OrjsonResponse({"detail": detail}, status_code=status, headers=headers)


class Problem(BaseModel):
    """The body of :func:`problem`, as the OpenAPI of every route answering one documents it."""

    detail: Any = Field(description="What was wrong: a message, or one entry per bad parameter with allowed values.")


def problems(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status it may answer with :func:`problem`, and when.

    A status a route answers but does not document is a broken contract for its clients (and
    Schemathesis fails it): list every one.
    """
    return {status: {"model": Problem, "description": text} for status, text in descriptions.items()}


class BadRequestError(ValueError):
    """Input a route cannot answer; ``detail`` says what is allowed (a message or a structure)."""

    def __init__(self, detail: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail


def bad_request_route(allowed: Mapping[str, Any]) -> type[APIRoute]:
    """A route class answering invalid input with 400 and the ``allowed`` values of the parameter
    at fault, instead of FastAPI's 422, so a client sees what it may send."""

    def describe(error: Any) -> dict[str, Any]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path"))
        detail: dict[str, Any] = {"parameter": where, "message": error.get("msg", "invalid")}
        if where in allowed:
            detail["allowed"] = allowed[where]
        return detail

    class BadRequestRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return problem(400, [describe(error) for error in exc.errors()])
                except BadRequestError as exc:
                    return problem(400, exc.detail)

            return answer

    return BadRequestRoute


def only_params(*allowed: str) -> Any:
    """A dependency refusing query parameters the route does not declare: a typo is an error, not
    a silently ignored filter."""

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise BadRequestError(
                {"parameter": unknown[0], "message": "unknown query parameter", "allowed": list(allowed)}
            )

    return Depends(check)
