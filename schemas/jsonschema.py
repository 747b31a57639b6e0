"""Generate the committed JSON Schema from the pydantic models.

``python -m schemas.jsonschema`` (from the repository root) rewrites the two committed copies:

- ``schemas/beacon.schema.json``, which the JS SDK's tests validate against;
- ``player-sdk/python/qoe_sdk/beacon.schema.json``, which ships inside the Python SDK's own
  distribution (``qoe-sdk`` installs without the server, so it reads the contract from its copy).

``--out PATH`` writes only PATH. A test fails when either committed copy is stale, so both SDKs are
always held to the models the server runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from schemas.beacon import Beacon

SCHEMA_PATH = Path(__file__).with_name("beacon.schema.json")
SDK_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "player-sdk" / "python" / "qoe_sdk" / "beacon.schema.json"
COMMITTED_PATHS = (SCHEMA_PATH, SDK_SCHEMA_PATH)


def beacon_json_schema() -> dict[str, Any]:
    schema = Beacon.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "qoe/beacon.schema.json"
    return schema


def render() -> bytes:
    return orjson.dumps(beacon_json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m schemas.jsonschema", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, action="append", help="write here only (repeatable); default: every committed copy"
    )
    args = parser.parse_args(argv)
    body = render()
    for path in args.out or COMMITTED_PATHS:
        path.write_bytes(body)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
