"""ThingsBoard telemetry: {"variable": v}, {"ts": epoch_ms, "values": {...}}, or an array of these."""

from __future__ import annotations

from typing import Any

from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits, admit, json_document
from shared import telemetry
from shared.errors import BadRequest
from shared.queue import QueueMessage, Source, make_message
from shared.values import ValueProblem, columns, flatten


def accept(credential: Credential, payload: bytes, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    document = json_document(payload)
    window = limits.window()
    try:
        items = telemetry.entries(document)
        if len(items) > limits.max_records:
            raise BadRequest(f"{len(items)} entries in one message; at most {limits.max_records}")
        for index, item in enumerate(items):
            moment, values = telemetry.time_and_values(item)
            if moment is not None:
                window.check(moment)
            for variable, value in flatten(values):
                admit(credential, variable, f"entry {index}")
                columns(value)
    except ValueProblem as problem:
        raise BadRequest(str(problem)) from None
    return make_message("telemetry", credential.dataset_id, payload.decode(), source=source, device=credential.device)


FORMAT = IngestFormat("telemetry", accept, topic="telemetry")
