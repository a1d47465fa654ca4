"""Payloads a receiver refused (a bad MQTT message has no one to answer): kept as rejected records."""

from __future__ import annotations

from services.worker.normalize.rows import Batch, Context
from shared.queue import QueueMessage


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    params = message.get("params") or {}
    # recorded under the format the sender meant, so the list reads "telemetry: unknown variable ...".
    original: QueueMessage = {**message, "format": params.get("format", "reject")}
    reason = str(params.get("reason") or "").strip() or "refused by the receiver"  # never a record without a reason
    batch.reject(original, reason, message["payload"])
