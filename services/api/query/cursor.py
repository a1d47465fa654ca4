"""The opaque paging cursor: the (time, series) of the last row given, so the next page starts right after it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from services.api.query.times import EPOCH
from shared.errors import BadRequest

MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """Position after a row: its time and series id, and the order the pages go in."""

    time: datetime
    series_id: int
    order: str


def encode_cursor(time: datetime, series_id: int, order: str) -> str:
    payload = orjson.dumps([(time - EPOCH) // MICROSECOND, series_id, order])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(text: str, order: str) -> Cursor:
    """The cursor of a `next_cursor`; 400 naming `cursor` when it is not one, or from the other order."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        micros, series_id, cursor_order = orjson.loads(raw)
        moment = EPOCH + micros * MICROSECOND
        if not (isinstance(series_id, int) and cursor_order in ("asc", "desc")):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, OverflowError, orjson.JSONDecodeError):
        raise BadRequest("cursor: not a cursor given as next_cursor by this API") from None
    if cursor_order != order:
        raise BadRequest(f"cursor: it pages in order={cursor_order}; keep the same order")
    return Cursor(moment, series_id, order)
