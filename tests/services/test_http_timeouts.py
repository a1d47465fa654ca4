"""Slow clients: headers and body each have a deadline on the real server (uvicorn with DeadlineProtocol)."""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.support.db import reading_count
from tests.support.factories import make_dataset
from tests.support.processes import served
from tests.support.worker import drain

TIMEOUTS = {"OWNSTREAM_HTTP_HEADER_TIMEOUT_S": "1", "OWNSTREAM_HTTP_BODY_TIMEOUT_S": "1"}


def trickle(url: str, head: bytes, body: bytes, pause_s: float = 0.2) -> tuple[bytes, int]:
    """Send `head` at once, then `body` a byte at a time; returns (the server's answer, body bytes sent)."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        for byte in body:
            readable, _, _ = select.select([sock], [], [], pause_s)
            if readable:
                break
            sock.sendall(bytes([byte]))
            sent += 1
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer, sent


def test_a_body_trickled_slower_than_the_deadline_gets_408_and_stores_nothing(settings):
    dataset = make_dataset(settings, variables=("temperature",))
    body = b'{"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 21.5}}]}' + b" " * 100
    head = (
        f"POST /api/v1/datasets/{dataset.id}/readings HTTP/1.1\r\nHost: x\r\nX-Write-Key: {dataset.write_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with served("all", "/healthz", env=TIMEOUTS) as url:
        answer, sent = trickle(url, head, body)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"error":"request_timeout"' in answer and b"body" in answer
        assert sent < len(body)  # cut off long before the client would have finished
        ok = httpx.post(
            f"{url}/api/v1/datasets/{dataset.id}/readings",
            headers={"X-Write-Key": dataset.write_key},
            content=body,
            timeout=10,
        )
        assert ok.status_code == 202  # the server is still there for everyone else
    drain(settings)
    assert reading_count(settings, dataset.id) == 1  # the trickled request stored nothing; the normal one did


def test_headers_trickled_or_never_sent_get_408(settings):
    with served("all", "/healthz", env=TIMEOUTS) as url:
        answer, sent = trickle(url, b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"headers" in answer, answer[:200]
        assert sent < 200
        silent, _ = trickle(url, b"", b"")  # connects and says nothing
        assert silent.startswith(b"HTTP/1.1 408 ")
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_ingest_service_has_the_same_deadlines(settings):
    with served("ingest", "/update", env=TIMEOUTS) as url:
        answer, _ = trickle(url, b"POST /update HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n", b"k" * 50)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_body_deadline_shorter_than_the_header_deadline_is_kept(settings):
    """A connection keeps one timer; a deadline armed shorter than the one it waits for moves it earlier."""
    env = {"OWNSTREAM_HTTP_HEADER_TIMEOUT_S": "8", "OWNSTREAM_HTTP_BODY_TIMEOUT_S": "1"}
    with served("ingest", "/update", env=env) as url:
        began = time.monotonic()
        answer, sent = trickle(url, b"POST /update HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n", b"k" * 50)
        took = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 408 ") and b"body" in answer, answer[:200]
        assert took < 5, f"408 after {took:.1f} s: the 8 s header deadline's timer was kept"
        assert sent < 50
