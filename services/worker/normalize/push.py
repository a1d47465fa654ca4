"""ThingSpeak-style pushes: one entry (`/update`) or many (bulk updates), text values taking their natural type.

Every value of an entry is stored with the entry's id (allocated by the receiver); the status stays text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.worker.normalize.rows import NO_TAGS, Batch, Context
from shared.queue import QueueMessage
from shared.thingspeak import STATUS  # kept as text even when it looks like a number
from shared.values import ValueProblem, from_epoch, parse_time, scalar_from_text


def add_entry(
    batch: Batch, message: QueueMessage, values: dict[str, str], moment: datetime, entry_id: int | None
) -> None:
    typed = [(variable, text if variable == STATUS else scalar_from_text(text)) for variable, text in values.items()]
    batch.add_all(message["dataset_id"], message.get("device") or "", NO_TAGS, moment, typed, entry_id)


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    """One entry: {variable: text}, at params.created_at or the receive time."""
    values: dict[str, str] = message["payload"]
    params = message.get("params") or {}
    start = len(batch.rows)
    try:
        created_at = params.get("created_at")
        moment = parse_time(created_at) if created_at else from_epoch(message["received_at"])
        context.window.check(moment)
        add_entry(batch, message, values, moment, params.get("entry_id"))
    except ValueProblem as problem:
        del batch.rows[start:]
        batch.reject(message, str(problem), {"values": values, **params})


def normalize_bulk(message: QueueMessage, context: Context, batch: Batch) -> None:
    """Many entries: [{"at": ISO} | {"dt": seconds since the previous one}, "values": {...}]; ids follow on.

    Relative times are counted back from the receive time, which is the last entry's (as ThingSpeak does).
    """
    entries: list[dict] = message["payload"]["entries"]
    first_id = (message.get("params") or {}).get("entry_id")
    moments = times(entries, from_epoch(message["received_at"]))
    for index, (entry, moment) in enumerate(zip(entries, moments, strict=True)):
        start = len(batch.rows)
        try:
            if moment is None:
                raise ValueProblem("an update needs created_at or delta_t")
            context.window.check(moment)
            add_entry(batch, message, entry["values"], moment, None if first_id is None else first_id + index)
        except (ValueProblem, KeyError, TypeError) as problem:
            del batch.rows[start:]
            batch.reject(message, str(problem), entry)


def times(entries: list[dict], received: datetime) -> list[datetime | None]:
    """Each entry's time: its own `at`, or for `dt` entries the receive time less the later entries' gaps."""
    moments: list[datetime | None] = [None] * len(entries)
    following = received
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        try:
            if "at" in entry:
                moments[index] = parse_time(entry["at"])
            elif "dt" in entry:
                moments[index] = following
                following = following - timedelta(seconds=float(entry["dt"]))
        except (ValueProblem, TypeError, ValueError, OverflowError):
            moments[index] = None
    return moments
