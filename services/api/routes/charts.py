"""Chart data for the dashboard: a dataset's numeric series over any range, as columnar arrays for uPlot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.api.charts import MAX_POINTS, RANGES, chart_lines
from services.api.deps import ReadableDatasetDep, ReadSessionDep
from services.api.query.params import time_param
from shared.errors import BadRequest
from shared.http import JSON

router = APIRouter()


@router.get("/api/v1/datasets/{dataset_id}/chart")
def chart(
    dataset: ReadableDatasetDep,
    session: ReadSessionDep,
    range: Annotated[
        Literal["hour", "day", "week", "month"], Query(description="How far back from `end` when `start` is not given.")
    ] = "day",
    start: Annotated[
        str | None,
        Query(
            description="Start of the range (any form /data accepts); overrides "
            "`range`, so any span, years included, can be drawn."
        ),
    ] = None,
    end: Annotated[str | None, Query(description="End of the range; default now.")] = None,
) -> JSON:
    """Numeric series in [start, end): `t` epoch seconds, `v` values; averages per `bucket_s` when many."""
    finish = time_param(end, "end", datetime.now(UTC))
    if finish.year < 1970:
        raise BadRequest("end must be in 1970 or later")
    begin = time_param(start, "start", finish - RANGES[range])
    if begin >= finish:
        raise BadRequest("start: must be before end")
    names = {v.tag: (v.name or v.tag, v.unit) for v in dataset.variables}
    lines = chart_lines(session, dataset.id, begin, finish)
    return JSON(
        {
            "dataset": dataset.id,
            "start": begin,
            "end": finish,
            "max_points": MAX_POINTS,
            "lines": [
                {
                    "variable": line.variable,
                    "name": names.get(line.variable, (line.variable, None))[0],
                    "unit": names.get(line.variable, (None, None))[1],
                    "label": line.label,
                    "bucket_s": line.bucket_s,
                    "t": line.t,
                    "v": line.v,
                }
                for line in lines
            ],
        }
    )
