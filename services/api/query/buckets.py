"""Bucketed aggregation of numeric readings, from rollups where the bucket allows and raw readings elsewhere.

The range is split into the longest stretches each rollup can answer whole (a 1-hour rollup bucket lies inside
one query bucket when the query bucket is a multiple of an hour, buckets being aligned to the Unix epoch); the
ragged edges come from finer rollups, then from raw readings. Every part is an aggregate state (shared.rollups)
and the states of one query bucket are merged, so the answer is the one computing from raw readings would give.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from shared.rollups import EPOCH, NUMERIC, ROLLUPS, STATE, merged_state, raw_state

AGGS = ("avg", "min", "max", "sum", "count", "first", "last")
# The state columns each aggregate reads (see _aggregate; n_num says whether a bucket holds only integers).
NEEDS = {
    "avg": ("n_num", "sum_num", "n_int", "sum_int"),
    "sum": ("n_num", "sum_num", "n_int", "sum_int"),
    "count": ("n_num", "n_int"),
    "min": ("n_num", "min_num", "min_int"),
    "max": ("n_num", "max_num", "max_int"),
    "first": ("n_num", "first_time", "first_num", "first_int"),
    "last": ("n_num", "last_time", "last_num", "last_int"),
}
EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)
Span = tuple[str | None, datetime, datetime]  # (rollup table or None for raw readings, start, end)


def _floor(moment: datetime, width: timedelta) -> datetime:
    return EPOCH_DT + (moment - EPOCH_DT) // width * width


def _ceil(moment: datetime, width: timedelta) -> datetime:
    floor = _floor(moment, width)
    return floor if floor == moment else floor + width


def spans(start: datetime, end: datetime, bucket: timedelta) -> list[Span]:
    """The parts of [start, end) answered by each rollup whose width divides `bucket`, and by raw readings."""
    tiers = [(table, width) for table, width in ROLLUPS if bucket % width == timedelta(0)]

    def split(lo: datetime, hi: datetime, level: int) -> list[Span]:
        if lo >= hi:
            return []
        if level == len(tiers):
            return [(None, lo, hi)]
        table, width = tiers[level]
        inner_lo, inner_hi = _ceil(lo, width), _floor(hi, width)
        if inner_lo >= inner_hi:
            return split(lo, hi, level + 1)
        return [*split(lo, inner_lo, level + 1), (table, inner_lo, inner_hi), *split(inner_hi, hi, level + 1)]

    return split(start, end, 0)


def _query(parts: list[Span], aggs: Sequence[str] = AGGS) -> tuple[str, dict]:
    """SQL merging the states of `parts` per query bucket; only the state columns `aggs` read are computed."""
    needed = {"n_num", *(column for agg in aggs for column in NEEDS[agg])}
    columns = ", ".join(column for column in STATE if column in needed)
    params: dict = {}
    selects = []
    by_source: dict[str | None, list[str]] = {}
    for n, (table, lo, hi) in enumerate(parts):
        params[f"lo{n}"], params[f"hi{n}"] = lo, hi
        if table is None:  # raw readings, hot or packed, through readings_in (migration 0003)
            selects.append(
                f"select series_id, date_bin(%(bucket)s, time, {EPOCH}) as bucket, {raw_state(needed)} "
                f"from readings_in(%(ids)s::bigint[], %(lo{n})s, %(hi{n})s) where {NUMERIC} group by 1, 2"
            )
        else:
            by_source.setdefault(table, []).append(f"(bucket >= %(lo{n})s and bucket < %(hi{n})s)")
    for table, ranges in by_source.items():
        selects.append(
            f"select series_id, bucket, {columns} from {table} "
            f"where series_id = any(%(ids)s) and ({' or '.join(ranges)})"
        )
    sql = (
        f"with parts as ({' union all '.join(selects)}) "
        f"select series_id, date_bin(%(bucket)s, bucket, {EPOCH}) as b, {merged_state(needed)} "
        "from parts group by 1, 2 order by 1, 2"
    )
    return sql, params


def _float(value: Decimal) -> float:
    """`value` as a float; a sum beyond double precision's range (of values near 1e308) is capped at its limit."""
    return max(-sys.float_info.max, min(float(value), sys.float_info.max))


def _aggregate(state: Sequence, agg: str) -> int | float | None:
    """One aggregate of a merged state; integers stay exact when every reading of the bucket is an integer."""
    (
        n_num,
        sum_num,
        min_num,
        max_num,
        n_int,
        sum_int,
        min_int,
        max_int,
        _,
        first_num,
        first_int,
        _,
        last_num,
        last_int,
    ) = state
    exact = n_num == 0  # every reading is an integer
    if agg == "count":
        return n_num + n_int
    if agg in ("sum", "avg"):
        if exact and agg == "sum":
            return int(sum_int)
        total = (sum_num or Decimal(0)) + (sum_int or Decimal(0))
        return _float(total if agg == "sum" else total / (n_num + n_int))
    if agg in ("min", "max"):
        num, whole = (min_num, min_int) if agg == "min" else (max_num, max_int)
        if exact:
            return whole
        pick = min if agg == "min" else max
        return num if whole is None else pick(num, float(whole))
    num, whole = (first_num, first_int) if agg == "first" else (last_num, last_int)
    if exact:
        return whole
    return num if num is not None else float(whole)


def bucketed(
    cur: psycopg.Cursor,
    series_ids: Sequence[int],
    start: datetime,
    end: datetime,
    bucket: timedelta,
    aggs: Sequence[str],
) -> list[tuple]:
    """(series_id, bucket_start, *aggs) per bucket with a numeric reading in [start, end), by series and time."""
    unknown = [agg for agg in aggs if agg not in AGGS]
    if unknown:
        raise ValueError(f"unknown aggregate {unknown[0]!r}; known: {', '.join(AGGS)}")
    if bucket <= timedelta(0):
        raise ValueError("the bucket must be longer than zero")
    start, end = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (start, end))
    parts = spans(start, end, bucket)
    if not series_ids or not parts:
        return []
    sql, params = _query(parts, aggs)
    cur.execute(sql, {**params, "ids": list(series_ids), "bucket": bucket})
    return [(row[0], row[1], *(_aggregate(row[2:], agg) for agg in aggs)) for row in cur.fetchall()]
