"""AutoPi's upload (seed autopi-send-data-to-own-server): `POST /autopi` with `Authorization: Bearer <token>`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ingest.body import read_body
from services.ingest.credentials import require_writer
from services.ingest.formats import FORMATS
from services.ingest.request import runtime, submit
from shared.errors import Unauthorized
from shared.http import JSON
from shared.keys import bearer_token

router = APIRouter()


@router.post("/autopi")
async def autopi(request: Request) -> JSON:
    """A JSON array of records from one device; 200 once it is in the queue, so the device may delete it."""
    rt = runtime(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized(
            "send the device token as Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    credential = require_writer(await rt.credential(token))
    body = await read_body(request, rt.settings.max_body_bytes)
    message = FORMATS["autopi"].accept(credential, body, rt.limits, source="http")
    await submit(rt, request, message)
    return JSON({"accepted": True}, status_code=200)
