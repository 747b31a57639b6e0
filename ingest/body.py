"""Reading a beacon body: size caps, gzip, and the content types players send."""

from __future__ import annotations

import zlib

from starlette.requests import Request

# What players send: fetch with JSON, or navigator.sendBeacon with a string (text/plain).
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "application/x-ndjson", "")
_GZIP_MAGIC = b"\x1f\x8b"


class BodyError(Exception):
    """The body cannot be read as a beacon; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.raw = raw


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(
    request: Request,
    max_bytes: int,
    accepted: tuple[str, ...] = ACCEPTED_CONTENT_TYPES,
    expect: str = "application/json or text/plain",
    empty_hint: str = "send one beacon as JSON",
) -> bytes:
    """The decoded body, or BodyError: 413 past ``max_bytes`` (compressed or not), 415 for a
    content type not in ``accepted`` or an unknown encoding, 400 when empty or bad gzip."""
    kind = media_type(request)
    if kind not in accepted:
        raise BodyError(415, f"unsupported content type {kind!r}; send {expect}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(413, f"body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    raw = await _read_capped(request, max_bytes)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip") or raw.startswith(_GZIP_MAGIC):
        raw = _gunzip(raw, max_bytes)
    elif encoding not in ("", "identity"):
        raise BodyError(415, f"unsupported content encoding {encoding!r}; send gzip or none", raw)
    if not raw.strip():
        raise BodyError(400, f"empty body: {empty_hint}")
    return raw


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyError(413, f"body exceeds the limit of {max_bytes} bytes", b"".join(chunks)[:4096])
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    # Bounded decompression: a small gzip bomb must not become a large allocation.
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}", raw[:4096]) from exc
    if len(out) > max_bytes or decompressor.unconsumed_tail:
        raise BodyError(413, f"decompressed body exceeds the limit of {max_bytes} bytes", raw[:4096])
    if not decompressor.eof:
        raise BodyError(400, "body is truncated gzip", raw[:4096])
    return out
