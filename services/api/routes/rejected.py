"""A dataset's rejected records: what was accepted on the wire but could not be stored, with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from services.api.deps import ReadableDatasetDep, SessionDep
from shared.http import JSON
from shared.models import RejectedRecord

router = APIRouter()


@router.get("/api/v1/datasets/{dataset_id}/rejected")
def rejected(
    dataset: ReadableDatasetDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> JSON:
    """Newest first; pass the answer's `next_before_id` as `before_id` for the next page."""
    query = select(RejectedRecord).where(RejectedRecord.dataset_id == dataset.id)
    if before_id is not None:
        query = query.where(RejectedRecord.id < before_id)
    records = list(session.scalars(query.order_by(RejectedRecord.id.desc()).limit(limit + 1)))
    more = len(records) > limit
    records = records[:limit]
    return JSON(
        {
            "dataset": dataset.id,
            "records": [
                {
                    "id": r.id,
                    "received_at": r.received_at,
                    "source": r.source,
                    "format": r.format,
                    "device": r.device,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in records
            ],
            "next_before_id": records[-1].id if more else None,
        }
    )
