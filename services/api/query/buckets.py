"""Bucketed aggregation of numeric readings (raw-only version: date_bin over readings).

The contract other modules code against; the rollups work replaces this file with one that reads rollup tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg

ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
NUMBER = "coalesce(r.v_num, r.v_int::float8)"
# per aggregate: (expression when every reading of the bucket is an integer, expression otherwise)
EXPRESSIONS = {
    "avg": ("avg(r.v_int)::float8", f"avg({NUMBER})"),
    "min": ("min(r.v_int)", f"min({NUMBER})"),
    "max": ("max(r.v_int)", f"max({NUMBER})"),
    "sum": ("sum(r.v_int)", f"sum({NUMBER})"),
    "count": ("count(*)", "count(*)"),
    "first": ("(array_agg(r.v_int order by r.time))[1]", f"(array_agg({NUMBER} order by r.time))[1]"),
    "last": ("(array_agg(r.v_int order by r.time desc))[1]", f"(array_agg({NUMBER} order by r.time desc))[1]"),
}


def bucketed(cur: psycopg.Cursor, series_ids: Sequence[int], start: datetime, end: datetime, bucket: timedelta,
             aggs: Sequence[str]) -> list[tuple]:
    """(series_id, bucket_start, *one value per agg) of buckets with numeric readings in [start, end).

    Buckets are aligned to the Unix epoch; ordered by series then bucket. Buckets whose readings are all
    integers give exact ints for min, max, sum, first and last; avg is a float.
    """
    if not series_ids or not aggs:
        return []
    unknown = set(aggs) - set(EXPRESSIONS)
    if unknown:
        raise ValueError(f"unknown aggregates: {sorted(unknown)}")
    # both forms of each aggregate, and whether the bucket is all integers: the row picks one (_typed)
    columns = ", ".join(f"{EXPRESSIONS[a][0]}, {EXPRESSIONS[a][1]}" for a in aggs)
    cur.execute(f"""
        select r.series_id, date_bin(%(bucket)s, r.time, %(origin)s) as b, bool_and(r.v_int is not null),
               {columns}
        from readings r
        where r.series_id = any(%(ids)s) and r.time >= %(start)s and r.time < %(end)s
          and (r.v_num is not null or r.v_int is not null)
        group by 1, 2 order by 1, 2""",
        {"ids": list(series_ids), "start": start, "end": end, "bucket": bucket, "origin": ORIGIN})
    return [_typed(row, aggs) for row in cur.fetchall()]


def _typed(row: tuple, aggs: Sequence[str]) -> tuple:
    """(series, bucket, values): the integer form of each aggregate when the bucket is all integers."""
    exact = row[2]
    values = []
    for index, agg in enumerate(aggs):
        as_int, as_float = row[3 + 2 * index], row[4 + 2 * index]
        if agg == "count":
            values.append(as_int)
        elif agg == "avg":
            values.append(float(as_int) if exact else as_float)
        else:
            values.append(int(as_int) if exact else as_float)
    return (row[0], row[1], *values)
