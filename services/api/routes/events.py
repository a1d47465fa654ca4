"""A dataset's device events (AutoPi `event.*` records), filtered by type, tag and time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from services.api.deps import ReadableDatasetDep, ReadSessionDep
from services.api.query.params import time_param
from services.api.query.times import EARLIEST, LATEST
from shared.errors import BadRequest
from shared.http import JSON
from shared.models import Event

router = APIRouter()


@router.get("/api/v1/datasets/{dataset_id}/events")
def events(
    dataset: ReadableDatasetDep,
    session: ReadSessionDep,
    type: str | None = None,
    tag: str | None = None,
    device: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> JSON:
    """Events in [start, end), oldest first, each with its type, tag, device and fields."""
    begin, finish = time_param(start, "start", EARLIEST), time_param(end, "end", LATEST)
    if finish <= begin:
        raise BadRequest("end must be after start")
    query = select(Event).where(Event.dataset_id == dataset.id, Event.time >= begin, Event.time < finish)
    if type:
        query = query.where(Event.type == type)
    if tag:
        query = query.where(Event.tag == tag)
    if device is not None:
        query = query.where(Event.device == device)
    rows = list(session.scalars(query.order_by(Event.time, Event.type, Event.device).limit(limit + 1)))
    return JSON(
        {
            "dataset": dataset.id,
            "count": min(len(rows), limit),
            "truncated": len(rows) > limit,
            "events": [
                {"time": e.time, "type": e.type, "tag": e.tag, "device": e.device, "fields": e.fields}
                for e in rows[:limit]
            ],
        }
    )
