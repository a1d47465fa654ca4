"""Ownstream's own JSON: {"readings": [{"time": ISO, "device": "...", "values": {"variable": value}}]}."""

from __future__ import annotations

import orjson

from services.worker.normalize.rows import NO_TAGS, Batch, Context
from shared.queue import QueueMessage
from shared.values import ValueProblem, from_epoch, leaves, parse_time


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    dataset_id = message["dataset_id"]
    try:
        document = orjson.loads(message["payload"])
        readings = document["readings"]
        if not isinstance(readings, list):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        batch.reject(message, 'body is not {"readings": [...]}', message["payload"])
        return
    received = from_epoch(message["received_at"])
    for reading in readings:
        start = len(batch.rows)
        try:
            if not isinstance(reading, dict) or not isinstance(values := reading.get("values"), dict):
                raise ValueProblem("a reading must be an object with a values object")
            moment = parse_time(reading["time"]) if reading.get("time") is not None else received
            context.window.check(moment)
            device = reading.get("device") or message.get("device") or ""
            if not isinstance(device, str):
                raise ValueProblem("device must be a string")
            batch.add_all(dataset_id, device, NO_TAGS, moment, leaves(values))
        except ValueProblem as problem:
            del batch.rows[start:]
            batch.reject(message, str(problem), reading)
