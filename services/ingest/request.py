"""What the ingest routes share: the runtime, request parameters and keys, and the one enqueue call."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from services.ingest.body import read_body
from services.ingest.formats.base import json_document
from services.ingest.idempotency import Receipt
from services.ingest.runtime import IngestRuntime
from shared.errors import BadRequest
from shared.queue import QueueMessage

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
KEY_HEADERS = ("x-thingspeakapikey", "thingspeakapikey")


def runtime(request: Request) -> IngestRuntime:
    return request.app.state.ingest


async def submit(rt: IngestRuntime, request: Request, message: QueueMessage) -> Receipt:
    """Queue one accepted message, honouring the request's Idempotency-Key (scoped to the message's dataset)."""
    return await rt.submit([message], idempotency_key=request.headers.get("idempotency-key"))


async def push_params(request: Request, limit: int) -> dict[str, object]:
    """Query parameters merged with a urlencoded or JSON POST body; a repeated name is refused."""
    pairs: list[tuple[str, object]] = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = media_type(request.headers.get("content-type", ""))
        body = await read_body(request, limit)
        if content_type == JSON_TYPE and body.strip():  # the `influxdb` client sends this type with no body
            pairs += list(json_object(body).items())
        elif body.strip() and content_type in (FORM_TYPE, ""):
            pairs += form_pairs(body)
        elif body.strip():
            raise BadRequest(f"unsupported Content-Type {content_type!r}: use {FORM_TYPE} or {JSON_TYPE}")
    return unique_params(pairs)


def media_type(content_type: str) -> str:
    """`application/x-www-form-urlencoded` of `Application/X-WWW-Form-Urlencoded; charset=utf-8`."""
    return content_type.split(";")[0].strip().lower()


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The name/value pairs of a urlencoded form body."""
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("form body is not UTF-8") from None


def unique_params(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """The pairs as a dict; a name given more than once is refused."""
    params: dict[str, object] = {}
    for name, value in pairs:
        if name in params:
            raise BadRequest(f"parameter {name!r} given more than once")
        params[name] = value
    return params


def json_object(body: bytes) -> dict:
    document = json_document(body)
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object")
    return document


def write_key(request: Request, *names: object) -> str | None:
    """The write key: ThingSpeak's header, else the first of `names` (parameter values) that is given."""
    for header in KEY_HEADERS:
        if value := request.headers.get(header):
            return value
    return first_given(*names)


def first_given(*names: object) -> str | None:
    """The first of `names` (parameter values) that is given, as text."""
    return next((str(n) for n in names if n not in (None, "")), None)
