"""Whether an answer is one its route's OpenAPI documents: status code, media type and body.

What Schemathesis checks on the running stack (tests/qoe/test_api_fuzz.py), for a single answer
in a unit test: a route answering what it does not document breaks its clients' contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import jsonschema


def assert_documented(openapi: Mapping[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """``response`` to ``method path`` (a template, e.g. /v1/views/{view_id}) is documented there."""
    responses = openapi["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path} answered {status}, documented: {sorted(responses)}"
    content: dict[str, Any] = responses[status].get("content") or {}
    if not content:
        return
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type in content, f"{method} {path} {status} is {media_type!r}, documented: {sorted(content)}"
    schema = content[media_type].get("schema")
    if schema is not None and media_type == "application/json":
        document = {**schema, "components": openapi.get("components", {})}  # so #/components/... resolve
        jsonschema.validate(response.json(), document, cls=jsonschema.Draft202012Validator)
