"""What of a viewer reaches Kafka: page URLs without their query, viewer ids hashed when a key is set.

Ingest is the only writer of the beacons and dead-letter topics, so applying both here means no
reader downstream (the sink, the sessionizer, the warehouse, an operator reading the dead
letters) ever sees a raw viewer id or a page's query string. No IP address is written anywhere:
the server context holds none (tests/ingest/test_privacy.py checks the whole pipeline).
"""

from __future__ import annotations

import re

import orjson

from schemas import Beacon
from schemas.privacy import pseudonymous_viewer_id, without_query


def stored_beacon(raw: bytes, beacon: Beacon, hmac_key: bytes | None) -> bytes:
    """The body of a validated beacon as it goes to Kafka: ``raw`` itself when nothing needs hiding.

    Otherwise orjson re-encodes the body with the viewer id hashed and the page URL cut. It reads
    duplicate keys as pydantic does (the last one counts), so the values replaced are the ones
    validated, and no earlier duplicate survives.
    """
    page_url = without_query(beacon.context.page_url)
    if hmac_key is None and page_url == beacon.context.page_url:
        return raw
    body = orjson.loads(raw)
    if hmac_key is not None:
        body["viewer_id"] = pseudonymous_viewer_id(hmac_key, beacon.viewer_id)
    if page_url != beacon.context.page_url:
        body["context"]["page_url"] = page_url
    return orjson.dumps(body)


def pseudonymised(beacon: Beacon, hmac_key: bytes | None) -> Beacon:
    """``beacon`` with its viewer id hashed, for beacons the server builds (CMCD)."""
    if hmac_key is None:
        return beacon
    return beacon.model_copy(update={"viewer_id": pseudonymous_viewer_id(hmac_key, beacon.viewer_id)})


# A JSON (or Structured Field) string's contents: escapes included, up to the closing quote.
_STRING = rb'"([^"\\]*(?:\\.[^"\\]*)*)"'
_PAGE_URL = re.compile(rb'("page_url"\s*:\s*)' + _STRING)
_VIEWER_ID = re.compile(rb'("viewer_id"\s*:\s*)' + _STRING)
_CMCD_VIEWER = re.compile(rb"(qoe-viewer=)" + _STRING)


def scrubbed_body(raw: bytes, hmac_key: bytes | None) -> bytes:
    """A refused body as the dead-letter topic keeps it: page URLs cut, viewer ids hashed.

    Refused input need not parse, so the values are found by pattern, in JSON beacons and in CMCD
    reports (``qoe-viewer``) alike.
    """
    body = _PAGE_URL.sub(lambda m: m[1] + orjson.dumps(without_query(_decoded(m[2]))), raw)
    if hmac_key is not None:
        body = _VIEWER_ID.sub(lambda m: m[1] + b'"' + _hashed(hmac_key, m[2]) + b'"', body)
        body = _CMCD_VIEWER.sub(lambda m: m[1] + b'"' + _hashed(hmac_key, m[2]) + b'"', body)
    return body


def _hashed(key: bytes, escaped: bytes) -> bytes:
    return pseudonymous_viewer_id(key, _decoded(escaped)).encode()


def _decoded(escaped: bytes) -> str:
    try:
        value = orjson.loads(b'"' + escaped + b'"')
    except orjson.JSONDecodeError:  # not valid JSON escapes (or not UTF-8): hide it as it stands
        return escaped.decode("utf-8", "replace")
    return str(value)
