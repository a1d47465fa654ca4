"""Counting ingest requests by protocol and outcome, and the bytes they carry, around the ASGI app."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from prometheus_client import Counter
from starlette.types import Message, Receive, Scope, Send

from shared.metrics import BYTES_IN, REQUESTS

PROTOCOLS = (
    (re.compile(r"^/update(\.json)?$"), "push"),
    (re.compile(r"^/channels/[^/]+/bulk_update\.(json|csv)$"), "bulk"),
    (re.compile(r"^/api/v1/datasets/[^/]+/readings$"), "native"),
    (re.compile(r"^/autopi$"), "autopi"),
    (re.compile(r"^/(api/v2/)?write$"), "lineproto"),
)
OUTCOMES = {
    200: "accepted",
    201: "accepted",
    202: "accepted",
    204: "accepted",
    400: "bad_request",
    401: "unauthorized",
    403: "unauthorized",
    404: "unauthorized",
    413: "too_large",
    429: "limited",
    503: "unavailable",
}


def protocol_of(path: str) -> str | None:
    """The write protocol a path receives, or None for paths that are not writes."""
    for pattern, protocol in PROTOCOLS:
        if pattern.match(path):
            return protocol
    return None


def outcome_of(status: int) -> str:
    return OUTCOMES.get(status, "error" if status >= 500 else "refused")


async def measured(
    handler: Callable[[Scope, Receive, Send], Awaitable[None]], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run `handler`, counting the request (by protocol and answer) and its body bytes when it is a write."""
    protocol = protocol_of(scope["path"]) if scope["type"] == "http" else None
    if protocol is None:
        await handler(scope, receive, send)
        return
    status = 500
    size = 0

    async def counting_receive() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        return message

    async def status_send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await handler(scope, counting_receive, status_send)
    finally:
        count(protocol, status, size)


_children: dict[tuple[str, int], tuple[Counter, Counter]] = {}


def count(protocol: str, status: int, size: int) -> None:
    """Count one request and its body bytes (the labelled counters kept: `labels` costs a lock and a lookup)."""
    children = _children.get((protocol, status))
    if children is None:
        children = _children[protocol, status] = (
            REQUESTS.labels(protocol, outcome_of(status)),
            BYTES_IN.labels(protocol),
        )
    children[0].inc()
    if size:
        children[1].inc(size)
