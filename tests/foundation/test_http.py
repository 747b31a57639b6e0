"""The platform's JSON responses render what query frames hold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from foundation.http import OrjsonResponse, problem, problems
from tests.factories.openapi import assert_documented


def test_pandas_timestamps_render_as_iso_8601_like_datetimes() -> None:
    frame = pd.DataFrame({"ts": pd.to_datetime([1_790_000_000_123], unit="ms", utc=True), "n": [np.int64(3)]})
    body = orjson.loads(bytes(OrjsonResponse({"rows": frame.to_dict(orient="records")}).body))
    assert body == {"rows": [{"ts": "2026-09-21T14:13:20.123000+00:00", "n": 3}]}
    plain = orjson.loads(bytes(OrjsonResponse({"ts": datetime(2026, 9, 21, tzinfo=UTC)}).body))
    assert plain == {"ts": "2026-09-21T00:00:00+00:00"}


def test_other_unknown_types_still_fail_loudly() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        OrjsonResponse({"x": Decimal("1.5")})


def test_an_app_answering_orjson_documents_json_not_a_string() -> None:
    """As a plain Response, FastAPI documented every answer without a model as {"type": "string"}."""
    app = FastAPI(default_response_class=OrjsonResponse)

    @app.get("/thing", responses=problems({404: "No such thing."}))
    def thing(found: bool = True) -> OrjsonResponse:
        return OrjsonResponse({"thing": 1}) if found else problem(404, "no thing")

    client = TestClient(app)
    openapi = client.get("/openapi.json").json()
    for params in ({}, {"found": "false"}):
        assert_documented(openapi, "GET", "/thing", client.get("/thing", params=params))
    assert openapi["paths"]["/thing"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {}
