"""ThingsBoard telemetry (`devices/{token}/telemetry`): entries without `ts` take the time of receipt."""

from __future__ import annotations

import orjson

from services.worker.normalize.rows import NO_TAGS, Batch, Context
from shared import telemetry
from shared.queue import QueueMessage
from shared.values import ValueProblem, flatten, from_epoch


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    dataset_id = message["dataset_id"]
    device = message.get("device") or ""
    try:
        items = telemetry.entries(orjson.loads(message["payload"]))
    except orjson.JSONDecodeError:
        batch.reject(message, "payload is not JSON", message["payload"])
        return
    except ValueProblem as problem:
        batch.reject(message, str(problem), message["payload"])
        return
    received = from_epoch(message["received_at"])
    for item in items:
        start = len(batch.rows)
        try:
            moment, values = telemetry.time_and_values(item)
            moment = context.window.check(moment or received)
            for variable, value in flatten(values):
                batch.add(dataset_id, device, variable, NO_TAGS, moment, value)
        except ValueProblem as problem:
            del batch.rows[start:]
            batch.reject(message, str(problem), item)
