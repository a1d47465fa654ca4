"""The key/value push (`/update?key=...&temperature=21.5`): text values take their natural type."""

from __future__ import annotations

from services.worker.normalize.rows import NO_TAGS, Batch, Context
from shared.queue import QueueMessage
from shared.values import ValueProblem, from_epoch, parse_time, scalar_from_text


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    values: dict[str, str] = message["payload"]
    params = message.get("params") or {}
    dataset_id = message["dataset_id"]
    device = message.get("device") or ""
    start = len(batch.rows)
    try:
        created_at = params.get("created_at")
        moment = parse_time(created_at) if created_at else from_epoch(message["received_at"])
        context.window.check(moment)
        for tag, text in values.items():
            batch.add(dataset_id, device, tag, NO_TAGS, moment, scalar_from_text(text))
    except ValueProblem as problem:
        del batch.rows[start:]
        batch.reject(message, str(problem), {"values": values, **params})
