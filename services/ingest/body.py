"""Request bodies read within the size limit, gzip included (the limit applies to the decoded size)."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from shared.errors import BadRequest, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The decoded body; 413 past `limit` bytes, 400 for a corrupt or unsupported encoding."""
    declared = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", ""):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
    if encoding in ("gzip", "x-gzip"):
        return gunzip(bytes(raw), limit)
    return bytes(raw)


def gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise BadRequest(f"body is not valid gzip: {error}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise BadRequest("gzip body is truncated")
    return out
