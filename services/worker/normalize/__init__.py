"""Normalizers: one pure function per wire format, a queue message in, reading rows and rejects out."""

from __future__ import annotations

from collections.abc import Callable

from services.worker.normalize import native, push, reject, telemetry
from services.worker.normalize.rows import Batch, Context
from shared.queue import QueueMessage

Normalizer = Callable[[QueueMessage, Context, Batch], None]

NORMALIZERS: dict[str, Normalizer] = {
    "push": push.normalize,
    "native": native.normalize,
    "telemetry": telemetry.normalize,
    "reject": reject.normalize,
}


def normalize(messages: list[QueueMessage], context: Context) -> Batch:
    """Rows and rejects of all `messages`; a message of an unknown format is rejected whole."""
    batch = Batch()
    for message in messages:
        normalizer = NORMALIZERS.get(message.get("format", ""))
        if normalizer is None:
            batch.reject(message, f"unknown format {message.get('format')!r}", message.get("payload"))
            continue
        normalizer(message, context, batch)
    return batch
