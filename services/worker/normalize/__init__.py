"""Normalizers: one pure function per wire format, a queue message in, reading rows and rejects out."""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.worker.normalize import autopi, lineproto, native, push, reject, telemetry
from services.worker.normalize.rows import Batch, Context
from shared.queue import QueueMessage
from shared.values import from_epoch

log = logging.getLogger(__name__)

Normalizer = Callable[[QueueMessage, Context, Batch], None]

NORMALIZERS: dict[str, Normalizer] = {
    "push": push.normalize,
    "bulk": push.normalize_bulk,
    "native": native.normalize,
    "autopi": autopi.normalize,
    "lineproto": lineproto.normalize,
    "telemetry": telemetry.normalize,
    "reject": reject.normalize,
}


def normalize(messages: list[QueueMessage], context: Context) -> Batch:
    """Rows and rejects of all `messages`; a message of an unknown format is rejected whole."""
    batch = Batch()
    for message in messages:
        if device := message.get("device"):
            batch.saw(message["dataset_id"], device, from_epoch(message["received_at"]))
        rows, rejects, events = len(batch.rows), len(batch.rejects), len(batch.events)
        normalizer = NORMALIZERS.get(message.get("format", ""))
        if normalizer is None:
            batch.reject(message, f"unknown format {message.get('format')!r}", message.get("payload"))
        else:
            try:
                normalizer(message, context, batch)
            except Exception as error:  # a bug must not fail the batch forever: keep the message, raw, as rejected
                log.exception("normalizer %s failed on a message", message.get("format"))
                del batch.rows[rows:], batch.rejects[rejects:], batch.events[events:]
                reason = f"could not be normalized ({type(error).__name__}: {error})"
                batch.reject(message, reason, message.get("payload"))
        batch.count(message, len(batch.rows) - rows, len(batch.rejects) - rejects)
    return batch
