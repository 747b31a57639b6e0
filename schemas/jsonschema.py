"""Generate the committed JSON Schema from the pydantic models.

``python -m schemas.jsonschema`` rewrites ``schemas/beacon.schema.json``; a test fails when the
committed file is stale, so the JS SDK is always tested against the models the server runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.beacon import Beacon

SCHEMA_PATH = Path(__file__).with_name("beacon.schema.json")


def beacon_json_schema() -> dict[str, Any]:
    schema = Beacon.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "qoe/beacon.schema.json"
    return schema


def render() -> bytes:
    return orjson.dumps(beacon_json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> None:
    SCHEMA_PATH.write_bytes(render())
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
