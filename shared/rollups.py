"""Rollups: per-series partial aggregates of numeric readings in 1-minute and 1-hour buckets.

A rollup row is a mergeable aggregate state: counts, sums, min and max kept apart for float (`v_num`) and
integer (`v_int`) readings, so integers stay exact, plus the time and value of the first and last reading.
Sums are `numeric`, so they are exact and cannot overflow, where a double precision sum of two 1e308 would fail
the write. A float is added as its shortest decimal form, the digits it prints as (`FLOAT_DECIMAL`): `12.34` as
12.34 and `0.1 + 0.2` as 0.30000000000000004.
On plain PostgreSQL `rollup_1m` and `rollup_1h` are tables the workers maintain in the transaction that writes the
readings; on TimescaleDB they are continuous aggregates of the same shape.
Buckets are aligned to the Unix epoch, like `date_bin(width, time, '1970-01-01Z')`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

EPOCH = "timestamptz '1970-01-01 00:00:00+00'"
NUMERIC = "(v_num is not null or v_int is not null)"

# (table, bucket width); the coarser rollup first: a query uses the coarsest one its bucket allows.
ROLLUPS: tuple[tuple[str, timedelta], ...] = (("rollup_1h", timedelta(hours=1)), ("rollup_1m", timedelta(minutes=1)))

STATE = (
    "n_num",
    "sum_num",
    "min_num",
    "max_num",
    "n_int",
    "sum_int",
    "min_int",
    "max_int",
    "first_time",
    "first_num",
    "first_int",
    "last_time",
    "last_num",
    "last_int",
)
STATE_COLUMNS = ", ".join(STATE)

STATE_DDL = """
    n_num integer not null, sum_num numeric, min_num double precision, max_num double precision,
    n_int integer not null, sum_int numeric, min_int bigint, max_int bigint,
    first_time timestamptz, first_num double precision, first_int bigint,
    last_time timestamptz, last_num double precision, last_int bigint
"""

# A float as the numeric a sum adds: its shortest decimal form, through its text (PostgreSQL's float8out with
# extra_float_digits >= 1, the default since PostgreSQL 12). The cast `::numeric` rounds to 15 significant digits
# by printing with "%.15g", which took 0.4 us a value, the largest cost in a write's rollups; this takes 0.15.
FLOAT_DECIMAL = "{}::text::numeric"

# The state of a group of raw readings (columns time, v_num, v_int), all numeric (filter with NUMERIC).
_RAW = (
    "count(v_num)::int",
    f"sum({FLOAT_DECIMAL.format('v_num')})",
    "min(v_num)",
    "max(v_num)",
    "count(v_int)::int",
    "sum(v_int)",
    "min(v_int)",
    "max(v_int)",
    "min(time)",
    "(array_agg(v_num order by time))[1]",
    "(array_agg(v_int order by time))[1]",
    "max(time)",
    "(array_agg(v_num order by time desc))[1]",
    "(array_agg(v_int order by time desc))[1]",
)
# The state of a group of states (columns named as STATE).
_MERGED = (
    "sum(n_num)::int",
    "sum(sum_num)",
    "min(min_num)",
    "max(max_num)",
    "sum(n_int)::int",
    "sum(sum_int)",
    "min(min_int)",
    "max(max_int)",
    "min(first_time)",
    "(array_agg(first_num order by first_time))[1]",
    "(array_agg(first_int order by first_time))[1]",
    "max(last_time)",
    "(array_agg(last_num order by last_time desc nulls last))[1]",
    "(array_agg(last_int order by last_time desc nulls last))[1]",
)
RAW_STATE = ", ".join(f"{expr} as {name}" for expr, name in zip(_RAW, STATE, strict=True))
MERGED_STATE = ", ".join(f"{expr} as {name}" for expr, name in zip(_MERGED, STATE, strict=True))


def raw_state(columns: Collection[str]) -> str:
    """RAW_STATE restricted to `columns` (in STATE order): a reader skips what it will not use."""
    return ", ".join(f"{expr} as {name}" for expr, name in zip(_RAW, STATE, strict=True) if name in columns)


def merged_state(columns: Collection[str]) -> str:
    """MERGED_STATE with every column outside `columns` null, so the result keeps the state's shape.

    The first and last values take ordered aggregates (a sort per group): a reader that does not ask for them
    should not pay for them.
    """
    return ", ".join(
        f"{expr} as {name}" if name in columns else f"null as {name}" for expr, name in zip(_MERGED, STATE, strict=True)
    )


# ON CONFLICT DO UPDATE clause adding the state `excluded` to the stored state `u`.
MERGE_INTO_STORED = """
    n_num = u.n_num + excluded.n_num,
    sum_num = coalesce(u.sum_num + excluded.sum_num, u.sum_num, excluded.sum_num),
    min_num = least(u.min_num, excluded.min_num), max_num = greatest(u.max_num, excluded.max_num),
    n_int = u.n_int + excluded.n_int,
    sum_int = coalesce(u.sum_int + excluded.sum_int, u.sum_int, excluded.sum_int),
    min_int = least(u.min_int, excluded.min_int), max_int = greatest(u.max_int, excluded.max_int),
    first_time = least(u.first_time, excluded.first_time),
    first_num = case when u.first_time < excluded.first_time then u.first_num else excluded.first_num end,
    first_int = case when u.first_time < excluded.first_time then u.first_int else excluded.first_int end,
    last_time = greatest(u.last_time, excluded.last_time),
    last_num = case when u.last_time > excluded.last_time then u.last_num else excluded.last_num end,
    last_int = case when u.last_time > excluded.last_time then u.last_int else excluded.last_int end
"""

REPLACE_STORED = ",\n    ".join(f"{column} = excluded.{column}" for column in STATE)


def interval(width: timedelta) -> str:
    """`width` as a SQL interval literal (whole microseconds)."""
    return f"interval '{width // timedelta(microseconds=1)} microseconds'"


def bucket_of(column: str, width: timedelta) -> str:
    """SQL: the epoch-aligned bucket of `width` holding `column`."""
    return f"date_bin({interval(width)}, {column}, {EPOCH})"


def continuous_aggregate(name: str, width: timedelta) -> str:
    """TimescaleDB: the continuous aggregate `name` of STATE shape, with real-time aggregation."""
    seconds = int(width.total_seconds())
    float_decimal = FLOAT_DECIMAL.format("v_num")
    return f"""
create materialized view {name} with (timescaledb.continuous, timescaledb.materialized_only = false) as
select series_id, time_bucket(interval '{seconds} seconds', time) as bucket,
    count(v_num)::int as n_num, sum({float_decimal}) as sum_num, min(v_num) as min_num, max(v_num) as max_num,
    count(v_int)::int as n_int, sum(v_int) as sum_int, min(v_int) as min_int, max(v_int) as max_int,
    min(time) as first_time, first(v_num, time) as first_num, first(v_int, time) as first_int,
    max(time) as last_time, last(v_num, time) as last_num, last(v_int, time) as last_int
from readings
where {NUMERIC}
group by series_id, time_bucket(interval '{seconds} seconds', time)
with no data
"""
