"""Chart data: numeric series of a dataset as columnar arrays, averaged into time buckets when there are many."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.query.bucket_pages import NICE_S as BUCKETS  # the smallest one that keeps a range in view
from services.api.query.buckets import bucketed
from services.api.readings import driver_connection
from shared.models import Series

MAX_POINTS = 1000  # per line: what a chart a screen wide can show
RANGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
DAY = 86_400

NUMERIC = "(r.v_num is not null or r.v_int is not null)"

# How many numeric points each series has in the range, counted only up to MAX_POINTS + 1.
CAPPED_COUNTS = f"""
select s.id, (select count(*) from (select 1 from readings_in(array[s.id], %(start)s, %(end)s) r
              where {NUMERIC} limit %(cap)s) x)
from series s where s.id = any(%(ids)s)
"""

RAW = f"""
select r.series_id, extract(epoch from r.time)::float8, coalesce(r.v_num, r.v_int::float8)
from readings_in(%(ids)s, %(start)s, %(end)s) r
where {NUMERIC}
order by r.series_id, r.time
"""


@dataclass
class Line:
    """One series of a variable: times (epoch seconds) and values; bucket_s is None for raw points."""

    series_id: int
    variable: str
    label: str
    bucket_s: int | None
    t: list[float]
    v: list[float]


def bucket_for(span: timedelta) -> int:
    """The smallest bucket width that keeps `span` within MAX_POINTS buckets."""
    seconds = span.total_seconds()
    return next((b for b in BUCKETS if seconds / b <= MAX_POINTS), DAY * -(-int(seconds) // (DAY * MAX_POINTS)))


def _label(series: Series) -> str:
    parts = [series.device] if series.device else []
    parts += [f"{k}={v}" for k, v in sorted(series.tags.items())]
    return " ".join(parts)


def chart_lines(session: Session, dataset_id: int, start: datetime, end: datetime) -> list[Line]:
    """Every series with numeric points in [start, end): raw when few, else bucket averages."""
    series = {s.id: s for s in session.scalars(select(Series).where(Series.dataset_id == dataset_id))}
    if not series:
        return []
    params = {"ids": list(series), "start": start, "end": end, "cap": MAX_POINTS + 1}
    with driver_connection(session).cursor() as cur:
        counts: dict[int, int] = dict(cur.execute(CAPPED_COUNTS, params).fetchall())
        raw_ids = [i for i, n in counts.items() if 0 < n <= MAX_POINTS]
        many_ids = {i for i, n in counts.items() if n > MAX_POINTS}
        bucket = bucket_for(end - start)
        rows = cur.execute(RAW, {**params, "ids": raw_ids}).fetchall() if raw_ids else []
        if many_ids:  # averages from the shared bucketed aggregation (rollups where they exist)
            rows += [
                (sid, moment.timestamp(), value)
                for sid, moment, value in bucketed(
                    cur, sorted(many_ids), start, end, timedelta(seconds=bucket), ["avg"]
                )
            ]
    lines: dict[int, Line] = {}
    for series_id, moment, value in rows:
        line = lines.get(series_id)
        if line is None:
            found = series[series_id]
            line = lines[series_id] = Line(
                series_id, found.variable, _label(found), bucket if series_id in many_ids else None, [], []
            )
        line.t.append(moment)
        line.v.append(value)
    return sorted(lines.values(), key=lambda line: (line.variable, line.label))
