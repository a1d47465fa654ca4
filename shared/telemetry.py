"""ThingsBoard's telemetry shapes, read the same way by the receiver (to refuse) and the worker (to store).

A document is `{"variable": value, ...}`, `{"ts": epoch_ms, "values": {"variable": value, ...}}`, or an array of these.
"""

from __future__ import annotations

import math
from datetime import datetime

from shared.values import ValueProblem, from_epoch


def entries(document: object) -> list[object]:
    """The entries of a telemetry document: the array itself, or the one object; raises ValueProblem."""
    if isinstance(document, list):
        if not document:
            raise ValueProblem("telemetry array is empty")
        return document
    if isinstance(document, dict):
        return [document]
    raise ValueProblem('telemetry must be an object, {"ts": ..., "values": {...}}, or an array of these')


def time_and_values(entry: object) -> tuple[datetime | None, dict]:
    """(time or None for "when received", values) of one entry; raises ValueProblem."""
    if not isinstance(entry, dict):
        raise ValueProblem("a telemetry entry must be an object")
    if "ts" in entry and "values" in entry:
        values = entry["values"]
        moment = epoch_ms(entry["ts"])
    else:
        values, moment = entry, None
    if not isinstance(values, dict) or not values:
        raise ValueProblem("telemetry values must be a non-empty object")
    return moment, values


def epoch_ms(ts: object) -> datetime:
    """A ThingsBoard `ts` (milliseconds since the epoch) as a time."""
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueProblem("ts must be a number of milliseconds since 1970")
    try:
        return from_epoch(ts / 1000)
    except (OverflowError, OSError, ValueError):
        raise ValueProblem(f"ts {ts} is out of range") from None
