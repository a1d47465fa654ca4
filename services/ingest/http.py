"""HTTP receiver routes: authenticate, bound the size, make one accept call, answer after the enqueue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.responses import PlainTextResponse, Response

from services.ingest import thingspeak as ts
from services.ingest.body import read_body
from services.ingest.credentials import require_writer
from services.ingest.formats import FORMATS
from services.ingest.idempotency import Receipt
from services.ingest.request import json_object, push_params, runtime, submit, write_key
from shared.errors import BadRequest
from shared.http import JSON, route_per_method
from shared.queue import QueueMessage
from shared.thingspeak import META_NAMES

router = APIRouter()


@route_per_method(router, "/update", ["GET", "POST"])
@route_per_method(router, "/update.json", ["GET", "POST"])
async def update(request: Request) -> Response:
    """ThingSpeak's write (/update?api_key=KEY&field1=..): the new entry id as text, or the entry as JSON."""
    rt = runtime(request)
    params = await push_params(request, rt.settings.max_body_bytes)
    credential = require_writer(await rt.credential(write_key(request, params.get("api_key"), params.get("key"))))
    message = FORMATS["push"].accept(credential, params, rt.limits, source="http")
    receipt = await submit(rt, request, message)
    if request.url.path.endswith(".json"):
        return JSON(entry_document(message, receipt, credential.fields))
    return PlainTextResponse(str(receipt.entry_id))


def entry_document(message: QueueMessage, receipt: Receipt, fields: dict[int, str]) -> dict:
    """The written entry in ThingSpeak's JSON shape."""
    values: dict[str, str] = message["payload"]
    created = (message.get("params") or {}).get("created_at")
    moment = datetime.fromisoformat(created) if created else datetime.fromtimestamp(receipt.received_at[0], UTC)
    document: dict[str, object] = {
        "channel_id": message["dataset_id"],
        "created_at": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entry_id": receipt.entry_id,
    }
    for number in range(1, 9):
        document[f"field{number}"] = values.get(fields[number]) if number in fields else None
    for tag, name in META_NAMES.items():
        document[name] = values.get(tag)
    return document


@router.post("/channels/{dataset_id}/bulk_update.json", status_code=202)
async def bulk_update_json(request: Request, dataset_id: int) -> JSON:
    """ThingSpeak's bulk JSON write: {"write_api_key": KEY, "updates": [{"created_at"|"delta_t", "field1"..}]}."""
    rt = runtime(request)
    document = json_object(await read_body(request, rt.settings.max_body_bytes))
    key = write_key(request, document.get("write_api_key"), request.query_params.get("api_key"))
    credential = require_writer(await rt.credential(key), dataset_id)
    updates, timezone = document.get("updates"), document.get("timezone")
    message = FORMATS["bulk"].accept(credential, updates, rt.limits, source="http", timezone=timezone)
    await submit(rt, request, message)
    return JSON({"success": True}, status_code=202)


@router.post("/channels/{dataset_id}/bulk_update.csv", status_code=202)
async def bulk_update_csv(request: Request, dataset_id: int) -> JSON:
    """ThingSpeak's bulk CSV write: write_api_key, time_format=absolute|relative, updates=T,F1,..,F8,..|..."""
    rt = runtime(request)
    params = await push_params(request, rt.settings.max_body_bytes)
    credential = require_writer(await rt.credential(write_key(request, params.get("write_api_key"))), dataset_id)
    updates = params.get("updates")
    if not isinstance(updates, str) or not updates.strip():
        raise BadRequest("updates is missing: TIME,FIELD1,..,FIELD8,LATITUDE,LONGITUDE,ELEVATION,STATUS|...")
    rows = ts.csv_updates(updates, str(params.get("time_format", "")))
    message = FORMATS["bulk"].accept(credential, rows, rt.limits, source="http", timezone=params.get("timezone"))
    await submit(rt, request, message)
    return JSON({"success": True}, status_code=202)


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
    message = FORMATS["native"].accept(credential, body, rt.limits, source="http")
    await submit(rt, request, message)
    return JSON({"accepted": True}, status_code=202)
