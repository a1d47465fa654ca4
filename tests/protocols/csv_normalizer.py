"""The worker side of the tests' CSV protocol: each line a reading, a bad line a rejected record."""

from __future__ import annotations

from services.worker.normalize.rows import NO_TAGS, Batch, Context
from shared.queue import QueueMessage
from shared.values import ValueProblem, from_epoch, parse_time, scalar_from_text
from tests.protocols.csv_format import lines


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    dataset_id, device = message["dataset_id"], message.get("device") or ""
    received = from_epoch(message["received_at"])
    for number, cells in lines(message["payload"]):
        try:
            moment = context.window.check(parse_time(cells[2]) if len(cells) == 3 else received)
            batch.add(dataset_id, device, cells[0], NO_TAGS, moment, scalar_from_text(cells[1]))
        except (ValueProblem, IndexError) as problem:
            batch.reject(message, f"line {number}: {problem}", ",".join(cells))
