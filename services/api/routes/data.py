"""Reading data back: the range query, the latest values, and the seed tutorial's whole-dataset read."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from services.api.deps import ReadableDatasetDep, ReadSessionDep, SettingsDep
from services.api.query.bucket_pages import bucket_page
from services.api.query.export import MEDIA_TYPES, started, stream_export
from services.api.query.latest import latest_values
from services.api.query.pages import columns_page, json_rows_page
from services.api.query.params import MAX_LIMIT, ReadQueryDep, tags_param, time_param, vars_param
from services.api.query.series import matching_series
from services.api.query.times import EARLIEST, EPOCH, LATEST
from services.api.readings import driver_connection, latest_per_variable
from shared.http import JSON

router = APIRouter()

MILLISECOND = timedelta(milliseconds=1)


@router.get("/api/v1/datasets/{dataset_id}/data")
def dataset_data(
    dataset: ReadableDatasetDep, session: ReadSessionDep, settings: SettingsDep, query: ReadQueryDep
) -> Response:
    """Readings in [start, end), raw or in buckets, as JSON rows, columns, CSV or NDJSON; paged by `cursor`."""
    if query.format in MEDIA_TYPES:
        return StreamingResponse(
            started(stream_export(settings, dataset.id, query)), media_type=MEDIA_TYPES[query.format]
        )
    conn = driver_connection(session)
    series = matching_series(conn, dataset.id, query.variables, query.device, query.tags)
    if query.bucket or query.auto_points:
        body = bucket_page(conn, dataset.id, series, query)
    elif query.format == "columns":
        body = columns_page(conn, dataset.id, series, query)
    else:
        body = json_rows_page(conn, dataset.id, series, query)
    return Response(body, media_type="application/json")


@router.get("/api/v1/datasets/{dataset_id}/latest")
def dataset_latest(
    dataset: ReadableDatasetDep,
    session: ReadSessionDep,
    vars: Annotated[str | None, Query(description="Comma-separated variables. Default: all.")] = None,
    device: Annotated[str | None, Query(description="Only the series of this device.")] = None,
    tag: Annotated[list[str] | None, Query(description="`key:value`; repeatable, as in /data.")] = None,
) -> JSON:
    """The last value and time of every series (variable, device, tags) of the dataset."""
    latest = latest_values(driver_connection(session), dataset.id, vars_param(vars), device, tags_param(tag))
    return JSON({"dataset": dataset.id, "series": latest})


@router.get("/datasets/{dataset_id}")
def dataset_document(
    dataset: ReadableDatasetDep,
    session: ReadSessionDep,
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
