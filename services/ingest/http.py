"""HTTP receiver routes: authenticate, bound the size, make one accept call, answer after the enqueue."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request

from services.ingest.accept import require_writer
from services.ingest.body import read_body
from services.ingest.runtime import IngestRuntime
from shared.errors import BadRequest
from shared.http import JSON

router = APIRouter()

FORM_TYPE = "application/x-www-form-urlencoded"


def runtime(request: Request) -> IngestRuntime:
    return request.app.state.ingest


async def push_params(request: Request, limit: int) -> dict[str, str]:
    """Query parameters merged with a urlencoded POST body; a repeated name is refused."""
    params: dict[str, str] = {}
    pairs = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM_TYPE):
        body = await read_body(request, limit)
        try:
            pairs += parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("form body is not UTF-8") from None
    for name, value in pairs:
        if name in params:
            raise BadRequest(f"parameter {name!r} given more than once")
        params[name] = value
    return params


@router.api_route("/update", methods=["GET", "POST"])
async def update(request: Request) -> JSON:
    """The push of seed iot-data-platform-tutorial: /update?key=WRITE_KEY&<tag>=<value>&..."""
    rt = runtime(request)
    params = await push_params(request, rt.settings.max_body_bytes)
    key = params.get("key") or params.get("api_key")
    credential = require_writer(await rt.credential(key))
    message = rt.acceptor.push(credential, params, source="http")
    await rt.batcher.submit([message])
    return JSON({"accepted": len(message["payload"])}, status_code=200)


@router.post("/api/v1/datasets/{dataset_id}/readings", status_code=202)
async def post_readings(
    request: Request,
    dataset_id: int,
    x_write_key: Annotated[str | None, Header()] = None,
) -> JSON:
    """Native JSON readings for one dataset."""
    rt = runtime(request)
    credential = require_writer(await rt.credential(x_write_key), dataset_id)
    body = await read_body(request, rt.settings.max_body_bytes)
    message = rt.acceptor.native(credential, body, source="http")
    await rt.batcher.submit([message])
    return JSON({"accepted": True}, status_code=202)
