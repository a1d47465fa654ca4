"""Uvicorn's HTTP protocol with deadlines: a client must finish its headers, then its body, in bounded time.

Uvicorn bounds only the idle time between requests. A client that opens a connection and sends nothing, sends
its headers a byte at a time, or announces a body and trickles it, would hold a connection (and, for the body, a
request task) for as long as it likes. Here the headers must be complete `OWNSTREAM_HTTP_HEADER_TIMEOUT_S` after
the connection opens (or the previous response ends), and the body `OWNSTREAM_HTTP_BODY_TIMEOUT_S` after the
headers; past that the client gets a 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.config import get_settings


def _timeout_response(detail: str) -> bytes:
    body = orjson.dumps({"error": "request_timeout", "detail": detail})
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


class DeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a header deadline and a body deadline (408, then the connection is closed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout_s = settings.http_header_timeout_s
        self.body_timeout_s = settings.http_body_timeout_s
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, detail: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, detail)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, detail: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_timeout_response(detail))
        if cycle is not None:
            cycle.keep_alive = False
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, f"the request headers did not arrive within {self.header_timeout_s:g} s")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s, f"the request headers did not arrive within {self.header_timeout_s:g} s")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s, f"the request body did not arrive within {self.body_timeout_s:g} s")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
