"""Reading data back: the range query and the seed tutorial's whole-dataset read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from services.api.deps import ReadableDatasetDep, SessionDep
from services.api.readings import latest_per_variable, read_range
from shared.errors import BadRequest
from shared.http import JSON
from shared.values import ValueProblem, parse_time

router = APIRouter()

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
MAX_LIMIT = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def time_param(value: str | None, name: str, default: datetime) -> datetime:
    if value is None or value == "":
        return default
    try:
        return parse_time(value)
    except ValueProblem as problem:
        raise BadRequest(f"{name}: {problem}") from None


def tags_param(values: list[str] | None) -> dict[str, list[str]] | None:
    """`tag=key:value` filters (repeatable; values given for one key are alternatives)."""
    if not values:
        return None
    tags: dict[str, list[str]] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not name or not sep:
            raise BadRequest(f"tag filter {item!r} must be key:value, e.g. tag=host:server01")
        tags.setdefault(name, []).append(value)
    return tags


def vars_param(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v for v in (part.strip() for part in value.split(",")) if v]


@router.get("/api/v1/datasets/{dataset_id}/data")
def dataset_data(
    dataset: ReadableDatasetDep,
    session: SessionDep,
    start: str | None = None,
    end: str | None = None,
    vars: str | None = None,
    device: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10_000,
) -> JSON:
    """Readings in [start, end), oldest first; `vars`: comma-separated variables; `tag=k:v`: series tagged so."""
    begin, finish = time_param(start, "start", EARLIEST), time_param(end, "end", LATEST)
    if finish <= begin:
        raise BadRequest("end must be after start")
    rows = read_range(session, dataset.id, begin, finish, vars_param(vars), limit + 1, device, tags_param(tag))
    truncated = len(rows) > limit
    return JSON({
        "dataset": dataset.id,
        "count": min(len(rows), limit),
        "truncated": truncated,
        "next_start": rows[limit]["time"] if truncated else None,
        "rows": rows[:limit],
    })


@router.get("/datasets/{dataset_id}")
def dataset_document(
    dataset: ReadableDatasetDep,
    session: SessionDep,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10_000,
) -> JSON:
    """{"name": ..., "<tag>": {"name": ..., "values": [[value, epoch_ms], ...]}}: no keys, no owner."""
    begin, finish = time_param(start, "start", EARLIEST), time_param(end, "end", LATEST)
    values = latest_per_variable(session, dataset.id, begin, finish, limit)
    document: dict[str, object] = {"name": dataset.name}
    names = {v.tag: v.name or v.tag for v in dataset.variables}
    for tag in [*names, *sorted(set(values) - set(names))]:
        document[tag] = {
            "name": names.get(tag, tag),
            "values": [[value, (moment - EPOCH) // MILLISECOND] for value, moment in values.get(tag, [])],
        }
    return JSON(document)
