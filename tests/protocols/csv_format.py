"""The ingest side of a tiny CSV protocol that exists only in the tests: `variable,value[,time]` per line.

It proves the recipe in CONTRIBUTING.md: one format module (this), one normalizer (csv_normalizer.py), its
route (below) and its MQTT topic name, registered by the `csv_protocol` fixture; nothing in services/ changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from services.ingest.body import read_body
from services.ingest.credentials import Credential, require_writer
from services.ingest.formats import FORMATS, IngestFormat, Limits
from services.ingest.formats.base import admit
from services.ingest.request import runtime, submit
from shared.errors import BadRequest
from shared.http import JSON
from shared.queue import QueueMessage, Source, make_message
from shared.values import VARIABLE_RE, ValueProblem, parse_time

NAME = "csv"


def lines(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank lines; both sides split the same way."""
    return [(number, line.split(",")) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def accept(credential: Credential, payload: bytes, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8") from None
    rows = lines(text)
    if not rows:
        raise BadRequest("no lines: send variable,value[,time] lines")
    if len(rows) > limits.max_records:
        raise BadRequest(f"{len(rows)} lines in one request; at most {limits.max_records}")
    window = limits.window()
    for number, cells in rows:
        if len(cells) not in (2, 3) or not VARIABLE_RE.match(cells[0]):
            raise BadRequest(f"line {number}: expected variable,value[,time]")
        admit(credential, cells[0], f"line {number}")
        if len(cells) == 3:
            try:
                window.check(parse_time(cells[2]))
            except ValueProblem as problem:
                raise BadRequest(f"line {number}: {problem}") from None
    return make_message(NAME, credential.dataset_id, text, source=source, device=credential.device)


FORMAT = IngestFormat(NAME, accept, topic="csv")

router = APIRouter()


@router.post("/test-csv/datasets/{dataset_id}", status_code=202)
async def post_csv(request: Request, dataset_id: int, x_write_key: Annotated[str | None, Header()] = None) -> JSON:
    """CSV lines for one dataset; the route looks its format up in the registry like every other route."""
    rt = runtime(request)
    credential = require_writer(await rt.credential(x_write_key), dataset_id)
    body = await read_body(request, rt.settings.max_body_bytes)
    message = FORMATS[NAME].accept(credential, body, rt.limits, source="http")
    await submit(rt, request, message)
    return JSON({"accepted": True}, status_code=202)
