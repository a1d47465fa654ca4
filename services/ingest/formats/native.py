"""Ownstream's own JSON: {"readings": [{"time": ISO, "device": str, "values": {...}}]}."""

from __future__ import annotations

from typing import Any

from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits, admit, json_document
from shared.errors import BadRequest
from shared.queue import QueueMessage, Source, make_message
from shared.values import TimeWindow, ValueProblem, columns, flatten, parse_time


def accept(credential: Credential, payload: bytes, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    """Every reading checked (time, device, values); unknown variables only where the dataset accepts them."""
    document = json_document(payload)
    if not isinstance(document, dict) or not isinstance(document.get("readings"), list):
        raise BadRequest('body must be an object {"readings": [...]}')
    readings = document["readings"]
    if not readings:
        raise BadRequest("readings is empty")
    if len(readings) > limits.max_records:
        raise BadRequest(f"{len(readings)} readings in one request; at most {limits.max_records}")
    window = limits.window()
    for index, reading in enumerate(readings):
        where = f"readings[{index}]"
        if not isinstance(reading, dict):
            raise BadRequest(f"{where} must be an object")
        if reading.get("time") is not None:
            _check_time(window, reading["time"], f"{where}.time")
        device = reading.get("device")
        if device is not None and (not isinstance(device, str) or not 0 < len(device) <= 200 or "\x00" in device):
            raise BadRequest(f"{where}.device must be a string of 1 to 200 characters, without NUL")
        values = reading.get("values")
        if not isinstance(values, dict) or not values:
            raise BadRequest(f"{where}.values must be a non-empty object")
        try:
            leaves = list(flatten(values))
        except ValueProblem as problem:
            raise BadRequest(f"{where}.values: {problem}") from None
        for variable, value in leaves:
            admit(credential, variable, where)
            try:
                columns(value)
            except ValueProblem as problem:
                raise BadRequest(f"{where}.values.{variable}: {problem}") from None
    return make_message("native", credential.dataset_id, payload.decode(), source=source, device=credential.device)


def _check_time(window: TimeWindow, text: object, where: str) -> None:
    try:
        window.check(parse_time(text))
    except ValueProblem as problem:
        raise BadRequest(f"{where}: {problem}") from None


FORMAT = IngestFormat("native", accept)
