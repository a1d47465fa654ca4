"""The single-reading push (`/update`, `/update.json`) handed straight to its route handler.

Devices push one reading per request, thousands of times a second, so the framework's per-request routing and
middleware cost more than the work itself. The same handler runs with the same rules and the same error answers;
only the dispatch is direct. Everything else goes through the app as usual.

The commonest pushes, `GET /update?key=..&field1=..` and a form `POST /update` (what ThingSpeak's Arduino library
sends), with a cached key, go a shorter way still (`plain_push`): their parameters are read off the raw query
string and body, accepted by the same format code and answered with two ASGI messages, without Starlette's
request, URL and response objects (two thirds of a push's CPU, by the profile). Anything else, and any push that
would be refused, takes the full handler (given back the body already read), which gives the answer.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from services.ingest.credentials import Credential
from services.ingest.formats import FORMATS
from services.ingest.http import update
from services.ingest.metrics import measured
from services.ingest.request import FORM_TYPE, KEY_HEADERS, first_given, form_pairs, media_type, unique_params
from services.ingest.runtime import IngestRuntime
from shared.config import Settings
from shared.http import error_response, known_error
from shared.queue import QueueMessage

PATHS = frozenset({"/update", "/update.json"})
METHODS = frozenset({"GET", "POST"})
# Headers that need the full handler: a key given in a header, an Idempotency-Key, an encoded body.
FULL_PATH_HEADERS = frozenset({h.encode() for h in KEY_HEADERS} | {b"idempotency-key", b"content-encoding"})
FORM_TYPES = frozenset({FORM_TYPE, ""})
TEXT = b"text/plain; charset=utf-8"
ACCEPT_PUSH = FORMATS["push"].accept


def is_push(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["path"] in PATHS and scope["method"] in METHODS


async def push(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one push with `update`, turning errors into responses as the app's handlers would."""
    scope["app"] = app
    rt: IngestRuntime = app.state.ingest
    try:
        message, receive = await short_way(rt, scope, receive)
        if message is not None:
            receipt = await rt.submit([message])
            body = str(receipt.entry_id).encode()
            headers = [(b"content-length", str(len(body)).encode()), (b"content-type", TEXT)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        response = await update(Request(scope, receive))
    except Exception as error:
        mapped = known_error(error)
        if mapped is None:
            raise
        response = error_response(mapped)
    await response(scope, receive, send)


async def short_way(rt: IngestRuntime, scope: Scope, receive: Receive) -> tuple[QueueMessage | None, Receive]:
    """The accepted message of a plain push, or None and the `receive` the full handler must read the body from
    (the body read here, then the rest of the stream)."""
    if scope["path"] != "/update" or rt.rate_limit.enabled:
        return None, receive
    length = b""
    content_type = ""
    for name, value in scope["headers"]:
        if name in FULL_PATH_HEADERS:
            return None, receive
        if name == b"content-length":
            length = value
        elif name == b"content-type":
            content_type = media_type(value.decode("latin-1"))
    if scope["method"] == "GET":
        return plain_push(rt, scope), receive
    limit = rt.settings.max_body_bytes
    if not length.isdigit() or int(length) > limit or content_type not in FORM_TYPES:
        return None, receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the full handler says so
            return None, _replay(chunks, receive, message)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if len(body) > limit:
        return None, _replay(chunks, receive)
    accepted = plain_push(rt, scope, body)
    return accepted, (receive if accepted is not None else _replay(chunks, receive))


def _replay(chunks: list[bytes], receive: Receive, last: Message | None = None) -> Receive:
    """A `receive` that gives the body already read (and the message that ended the reading), then the stream."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": last is not None}]
    if last is not None:
        pending.append(last)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def plain_push(rt: IngestRuntime, scope: Scope, body: bytes = b"") -> QueueMessage | None:
    """The accepted message of a plain push to `/update` (key in the query or a form body, cached, no rate limit,
    no Idempotency-Key), or None when the request needs the full handler (`update`): a push that would be refused
    gets its error there. Reads the parameters exactly as `push_params` does."""
    try:
        pairs: list[tuple[str, object]] = list(
            parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)  # as Starlette reads it
        )
        if body.strip():
            pairs += form_pairs(body)
        params = unique_params(pairs)
        credential = rt.credentials.cached(first_given(params.get("api_key"), params.get("key")) or "")
        if not isinstance(credential, Credential) or not credential.can_write:  # unknown, not cached, or refused
            return None
        return ACCEPT_PUSH(credential, params, rt.limits, source="http")
    except Exception:  # refused: the full handler gives the answer
        return None


class FastPush:
    """The ingest app with pushes dispatched directly (`ownstream serve ingest`)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_push(scope):
            await measured(self._push, scope, receive, send)
        else:
            await measured(self.app, scope, receive, send)

    async def _push(self, scope: Scope, receive: Receive, send: Send) -> None:
        await push(self.app, scope, receive, send)


def create_server(settings: Settings | None = None) -> FastPush:
    from services.ingest.app import create_app

    return FastPush(create_app(settings))
