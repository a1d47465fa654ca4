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
    """HttpToolsProtocol plus a header deadline and a body deadline (408, then the connection is closed).

    Arming a deadline only moves a timestamp: a connection keeps at most one timer, which on firing either expires
    the request or sleeps again until the current deadline (a timer per phase of every request was a tenth of a
    single push's CPU).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout_s = settings.http_header_timeout_s
        self.body_timeout_s = settings.http_body_timeout_s
        self._header_detail = f"the request headers did not arrive within {self.header_timeout_s:g} s"
        self._body_detail = f"the request body did not arrive within {self.body_timeout_s:g} s"
        self._deadline_at: float | None = None  # loop time; None: nothing is awaited from the client
        self._detail = ""
        self._timer: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, detail: str) -> None:
        self._deadline_at = deadline = self.loop.time() + seconds
        self._detail = detail
        if self._timer is not None and self._timer.when() > deadline:  # a shorter deadline than the one timed
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._check)

    def _disarm(self) -> None:
        self._deadline_at = None

    def _check(self) -> None:
        self._timer = None
        if self._deadline_at is None:
            return
        if self.loop.time() + 0.002 < self._deadline_at:  # re-armed since this timer was set (timers fire to the ms)
            self._timer = self.loop.call_at(self._deadline_at, self._check)
            return
        self._deadline_at = None
        self._expire(self._detail)

    def _expire(self, detail: str) -> None:
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
        self._arm(self.header_timeout_s, self._header_detail)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s, self._header_detail)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s, self._body_detail)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
