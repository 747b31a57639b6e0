"""HTTP helpers every API of the platform shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response


class OrjsonResponse(Response):
    """JSON rendered by orjson: datetimes as ISO-8601 with offset, numpy scalars as numbers."""

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
