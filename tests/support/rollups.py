"""Readings for rollup tests, and the reference answers computed from raw readings with plain SQL."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from services.worker.normalize.rows import NO_TAGS, Batch
from services.worker.storage import Writer, WriteResult
from shared.config import Settings

BIG = 2**62  # integers this large lose digits as floats (above 2^53) and their sums overflow bigint
Reading = tuple[str, datetime, object]  # (variable, time, value)


def day_writer(settings: Settings) -> Writer:
    """A worker writer with one partition per day, so a few days of readings cross many partitions."""
    return Writer(settings.model_copy(update={"partition_interval": "day"}))


def write(writer: Writer, dataset_id: int, readings: Iterable[Reading]) -> WriteResult:
    batch = Batch()
    for variable, moment, value in readings:
        batch.add(dataset_id, "", variable, NO_TAGS, moment, value)
    return writer.write(batch)


def history(start: datetime, span: timedelta, seed: int = 7) -> list[Reading]:
    """Irregular readings of a float, an integer (some above 2^53) and a mixed variable (numbers, text, bools).

    Large integers are all positive, so that float sums of mixed buckets do not cancel out (which would leave
    the raw computation, not the rollups, with the rounding error).
    """
    rng = random.Random(seed)
    out: list[Reading] = []
    for variable in ("float", "int", "mixed"):
        moment = start
        while moment < start + span:
            if variable == "float":
                value: object = round(rng.uniform(0, 1000), rng.choice([1, 3, 9]))
            elif variable == "int":
                value = rng.choice([rng.randrange(-1000, 1000), BIG + rng.randrange(1000), BIG - rng.randrange(9)])
            else:
                value = rng.choice([rng.randrange(10**6), rng.uniform(-5, 5), "text", True, 2**53 + 1])
            out.append((variable, moment, value))
            step = rng.choices([0.25, 1, 7, 59, 61, 600, 3599], weights=[30, 30, 20, 10, 5, 3, 2])[0]
            moment += timedelta(seconds=step, milliseconds=rng.randrange(3))
    return out


# Independent of the implementation: window functions over raw readings, no rollup, no shared SQL.
RAW_REFERENCE = """
with r as (
    select series_id, date_bin(%(bucket)s, time, timestamptz '1970-01-01Z') as b, time, v_int,
        coalesce(v_num, v_int::double precision) as f
    from readings_in(%(ids)s::bigint[], %(start)s, %(end)s)  -- hot and packed readings (migration 0003)
    where v_num is not null or v_int is not null
), ordered as (
    select *, row_number() over (partition by series_id, b order by time) as up,
        row_number() over (partition by series_id, b order by time desc) as down
    from r
)
select series_id, b, count(*), bool_and(v_int is not null), sum(v_int), sum(f), avg(f), avg(v_int),
    min(v_int), max(v_int), min(f), max(f),
    max(v_int) filter (where up = 1), max(f) filter (where up = 1),
    max(v_int) filter (where down = 1), max(f) filter (where down = 1)
from ordered group by 1, 2 order by 1, 2
"""


def raw_bucketed(
    cur: psycopg.Cursor, ids: Sequence[int], start: datetime, end: datetime, bucket: timedelta, aggs: Sequence[str]
) -> list[tuple]:
    """What `bucketed` must answer, computed from raw readings; ints where every reading is an integer."""
    cur.execute(RAW_REFERENCE, {"ids": list(ids), "start": start, "end": end, "bucket": bucket})
    out = []
    for (
        series_id,
        b,
        count,
        exact,
        sum_int,
        sum_f,
        avg_f,
        avg_i,
        min_i,
        max_i,
        min_f,
        max_f,
        first_i,
        first_f,
        last_i,
        last_f,
    ) in cur.fetchall():
        values = {
            "count": count,
            "avg": float(avg_i) if exact else avg_f,
            "sum": int(sum_int) if exact else sum_f,
            "min": min_i if exact else min_f,
            "max": max_i if exact else max_f,
            "first": first_i if exact else first_f,
            "last": last_i if exact else last_f,
        }
        out.append((series_id, b, *(values[agg] for agg in aggs)))
    return out


def assert_same(got: list[tuple], expected: list[tuple], aggs: Sequence[str]) -> None:
    """Equal row for row: exact (and of the same type) except float sums and averages.

    Float sums and averages are compared with math.isclose(rel_tol=1e-12): the rollups add floats as numeric
    (each as the decimal it prints as), the reference in double precision, in another order.
    """
    assert [row[:2] for row in got] == [row[:2] for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        for agg, a, b in zip(aggs, mine[2:], theirs[2:], strict=True):
            where = f"{agg} of series {mine[0]} at {mine[1]}"
            if agg == "avg" or (agg == "sum" and isinstance(b, float)):
                assert isinstance(a, float) and math.isclose(a, b, rel_tol=1e-12), (where, a, b)
            else:
                assert type(a) is type(b) and a == b, (where, a, b)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def states_from_raw(conn: psycopg.Connection, width: timedelta) -> dict[tuple, tuple]:
    """Rollup states computed in Python from the raw numeric readings, keyed by (series_id, bucket)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    groups: dict[tuple, list] = {}
    for series_id, moment, v_num, v_int in conn.execute(
        "select series_id, time, v_num, v_int "
        "from readings_in((select array_agg(id) from series), '-infinity', 'infinity') "
        "where v_num is not null or v_int is not null order by series_id, time"
    ):
        groups.setdefault((series_id, epoch + (moment - epoch) // width * width), []).append((moment, v_num, v_int))
    out = {}
    for key, rows in groups.items():
        nums = [v for _, v, _ in rows if v is not None]
        ints = [v for _, _, v in rows if v is not None]
        (t0, n0, i0), (t1, n1, i1) = rows[0], rows[-1]
        out[key] = (
            len(nums),
            math.fsum(nums) if nums else None,
            min(nums, default=None),
            max(nums, default=None),
            len(ints),
            sum(ints) if ints else None,
            min(ints, default=None),
            max(ints, default=None),
            t0,
            n0,
            i0,
            t1,
            n1,
            i1,
        )
    return out


def stored_states(conn: psycopg.Connection, table: str) -> dict[tuple, tuple]:
    rows = conn.execute(f"select * from {table}").fetchall()
    convert = {1: float, 5: int}  # numeric sums: of floats, of integers
    return {
        (row[0], row[1]): tuple(convert[i](v) if i in convert and v is not None else v for i, v in enumerate(row[2:]))
        for row in rows
    }


def assert_rollups_exact(conn: psycopg.Connection) -> None:
    """Both rollup tables hold exactly the states of the raw readings.

    Float sums are compared with math.isclose(rel_tol=1e-12): the rollups add them as numeric, each as the decimal
    it prints as, the reference with math.fsum of the floats themselves.
    """
    for table, width in (("rollup_1m", timedelta(minutes=1)), ("rollup_1h", timedelta(hours=1))):
        expected, stored = states_from_raw(conn, width), stored_states(conn, table)
        assert stored.keys() == expected.keys(), table
        for key, state in expected.items():
            mine = stored[key]
            assert mine[:1] + mine[2:] == state[:1] + state[2:], (table, key, mine, state)
            assert (mine[1] is None) == (state[1] is None), (table, key)
            if state[1] is not None:
                assert math.isclose(mine[1], state[1], rel_tol=1e-12), (table, key, mine[1], state[1])
