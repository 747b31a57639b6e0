"""HTTP helpers every API of the platform shares."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class OrjsonResponse(Response):
    """JSON rendered by orjson: datetimes as ISO-8601 with offset, numpy scalars as numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> OrjsonResponse:
    """An error answer: ``{"detail": ...}`` like FastAPI's own errors, so clients parse one shape."""
    return OrjsonResponse({"detail": detail}, status_code=status, headers=headers)
