"""Bulk loader for benchmarks: days of 1 Hz readings written by SQL straight into the form the worker stores.

Loading a year through the ingest path took ~13 minutes of both cores; this writes the same rows in a few: every
value is computed inside PostgreSQL (generate_series), so no reading crosses the wire. What it writes is what the
workers (services/worker/storage.py, rollups.py) followed by their packing maintenance (packing.py) would hold
for the same readings pushed as native JSON (no entry ids):

- partitions of `readings` for the whole span (packing truncates them, never drops them);
- UTC days that ended before `day_floor(now - pack_after_s)` as `readings_packed` rows: per series and day, runs of
  up to PACK_MAX values in time order (start, stop, n, times, v_num; the other arrays null);
- later readings as hot rows of `readings`;
- `rollup_1m` from the readings (the state shared.rollups.RAW_STATE gives, computed without sorting), `rollup_1h`
  merged from `rollup_1m` (MERGED_STATE, as migration 0002 fills it);
- the dataset's entry_count and last_entry_at.

tests/bench/test_bulk_load.py loads the same readings both ways (this loader, and Writer.write + packing.pack) and
compares every stored row; `check()` verifies a load through readings_in() and the rollups against raw readings.
Nothing here is product code: only the benchmarks use it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from services.worker.packing import PACK_MAX, day_floor
from services.worker.partitions import ensure_partitions, existing_partitions, periods_between
from shared.rollups import FLOAT_DECIMAL, MERGED_STATE, NUMERIC, RAW_STATE, STATE, STATE_COLUMNS, bucket_of

DAY_S = 86_400
BLOCK_DAYS = 16  # days per transaction


def value(i: int, k: int) -> float:
    """The `i`-th reading (seconds after the start) of the `k`-th variable: a daily-ish wave plus a sawtooth."""
    return 20 + 10 * k + 5 * math.sin(i / 3600 + k) + (i % 97) / 50


def value_sql(i: str, k: int) -> str:
    """value() in SQL, operation for operation in double precision, so both give the same bits."""
    return f"((20 + 10 * {k})::float8 + 5 * sin({i}::float8 / 3600 + {k}) + mod({i}, 97)::float8 / 50)"


def moment_sql(i: str) -> str:
    return f"(%(t0)s::timestamptz + {i} * interval '1 second')"


PACKS = """
insert into readings_packed (series_id, start, stop, n, times, v_num)
select %(series)s, {lo}, {last}, (p.hi - p.lo)::int,
    array(select {moment} from generate_series(p.lo, p.hi - 1) i order by i),
    array(select {value} from generate_series(p.lo, p.hi - 1) i order by i)
from unnest(%(los)s::bigint[], %(his)s::bigint[]) as p(lo, hi)
order by p.lo
"""
HOT = """
insert into readings (series_id, time, v_num)
select %(series)s, {moment}, {value} from generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) i
"""
# One row per minute; the first and last readings of a minute are its lowest and highest i.
MINUTES = """
insert into rollup_1m (series_id, bucket, {columns})
select %(series)s, timestamptz '1970-01-01Z' + m.b * interval '1 minute', m.n::int, m.s, m.mn, m.mx, 0, null, null,
    null, {first_time}, {first}, null, {last_time}, {last}, null
from (
    select (%(s0)s + g.i) / 60 as b, count(*) as n, sum({exact_v}) as s, min(g.v) as mn, max(g.v) as mx,
        min(g.i) as lo, max(g.i) as hi
    from (select i, {value} as v from generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) i) g
    group by 1
) m
order by 2
"""
HOURS = f"""
insert into rollup_1h (series_id, bucket, {STATE_COLUMNS})
select series_id, {bucket_of("bucket", timedelta(hours=1))}, {MERGED_STATE}
from rollup_1m where series_id = %(series)s group by 1, 2 order by 2
"""


@dataclass
class Loaded:
    series: dict[str, int]  # variable -> series id
    start: datetime  # first reading
    end: datetime  # after the last reading
    per_series: int  # readings per series
    packed_before: datetime  # days before this are packed; later readings are hot rows
    seconds: float


def plan(start: datetime, total: int, cutoff: datetime) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The packs ((lo, hi) ranges of i, per UTC day in runs of PACK_MAX) before `cutoff`, and the hot range after."""
    packed_end = max(0, min(total, int((cutoff - start).total_seconds())))
    packs = []
    day = day_floor(start)
    while day < start + timedelta(seconds=packed_end):
        lo = max(0, int((day - start).total_seconds()))
        hi = min(packed_end, int((day + timedelta(days=1) - start).total_seconds()))
        packs += [(a, min(a + PACK_MAX, hi)) for a in range(lo, hi, PACK_MAX)]
        day += timedelta(days=1)
    return packs, (packed_end, total)


def blocks(start: datetime, total: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of i split at UTC midnights every BLOCK_DAYS days: no minute or pack straddles two."""
    edges = [0]
    day = day_floor(start) + timedelta(days=BLOCK_DAYS)
    while (day - start).total_seconds() < total:
        edges.append(int((day - start).total_seconds()))
        day += timedelta(days=BLOCK_DAYS)
    return list(zip(edges, [*edges[1:], total], strict=True))


def load(
    conn: psycopg.Connection,
    dataset_id: int,
    variables: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    pack_after: timedelta,
    partition_interval: str,
    progress: Callable[[str], None] = lambda line: None,
) -> Loaded:
    """Readings of `variables` (device "", no tags) each second in [start, end), as stored by `now`.

    `conn` in autocommit mode; `start` and `end` on whole seconds; the dataset's variables exist already.
    """
    if start.microsecond or end.microsecond or end <= start:
        raise ValueError("start and end must be whole seconds, start before end")
    began = time.perf_counter()
    total = int((end - start).total_seconds())
    cutoff = day_floor(now - pack_after)
    packs, (hot_lo, hot_hi) = plan(start, total, cutoff)
    ensure_partitions(
        conn, periods_between(start, end, partition_interval), partition_interval, existing_partitions(conn)
    )
    series = {}
    for k, variable in enumerate(variables):
        series[variable] = sid = conn.execute(
            "insert into series (dataset_id, device, variable, tags) values (%s, '', %s, '{}') returning id",
            (dataset_id, variable),
        ).fetchone()[0]
        common = {"series": sid, "t0": start, "s0": int(start.timestamp())}
        packs_sql = PACKS.format(
            lo=moment_sql("p.lo"), last=moment_sql("(p.hi - 1)"), moment=moment_sql("i"), value=value_sql("i", k)
        )
        minutes_sql = MINUTES.format(
            columns=STATE_COLUMNS,
            first_time=moment_sql("m.lo"),
            first=value_sql("m.lo", k),
            last_time=moment_sql("m.hi"),
            last=value_sql("m.hi", k),
            value=value_sql("i", k),
            exact_v=FLOAT_DECIMAL.format("g.v"),
        )
        hot_sql = HOT.format(moment=moment_sql("i"), value=value_sql("i", k))
        for lo, hi in blocks(start, total):
            block = [p for p in packs if lo <= p[0] < hi]
            with conn.transaction():
                if block:
                    conn.execute(packs_sql, {**common, "los": [p[0] for p in block], "his": [p[1] for p in block]})
                if max(lo, hot_lo) < min(hi, hot_hi):
                    conn.execute(hot_sql, {**common, "lo": max(lo, hot_lo), "hi": min(hi, hot_hi)})
                conn.execute(minutes_sql, {**common, "lo": lo, "hi": hi})
            progress(f"{variable}: {hi:,} of {total:,} readings ({time.perf_counter() - began:.0f} s)")
        conn.execute(HOURS, {"series": sid})
    conn.execute(
        "update datasets set entry_count = entry_count + %s, last_entry_at = greatest(last_entry_at, %s) where id = %s",
        (total * len(variables), start + timedelta(seconds=total - 1), dataset_id),
    )
    # What autovacuum does to insert-only tables sooner or later: statistics, and the visibility map that lets
    # index-only scans skip the heap.
    for table in ("readings_packed", "rollup_1m", "rollup_1h", "readings"):
        conn.execute(f"vacuum (analyze) {table}")
    return Loaded(series, start, end, total, cutoff, time.perf_counter() - began)


RAW_BUCKET = f"""
select {RAW_STATE} from readings_in(array[%(series)s]::bigint[], %(lo)s, %(hi)s) where {NUMERIC}
"""


def check(conn: psycopg.Connection, loaded: Loaded, samples: int = 5, seed: int = 1) -> dict:
    """Read the load back through readings_in() and compare rollup buckets with raw readings; raises on a mismatch.

    Per series: the number of readings in the whole span, `samples` random readings (time and value), and
    `samples` random minutes and hours (plus the first and last of each, and those at the packed/hot border)
    whose stored rollup state must equal the state computed from readings_in().
    """
    rng = random.Random(seed)
    began = time.perf_counter()
    buckets = 0
    for k, (variable, sid) in enumerate(loaded.series.items()):
        span = {"ids": [sid], "lo": loaded.start, "hi": loaded.end}
        count = conn.execute("select count(*) from readings_in(%(ids)s::bigint[], %(lo)s, %(hi)s)", span).fetchone()
        if count[0] != loaded.per_series:
            raise AssertionError(f"{variable}: readings_in() holds {count[0]:,}, not {loaded.per_series:,}")
        for i in [0, loaded.per_series - 1, *(rng.randrange(loaded.per_series) for _ in range(samples))]:
            moment = loaded.start + timedelta(seconds=i)
            row = conn.execute(
                "select time, v_num from readings_in(array[%s]::bigint[], %s, %s)",
                (sid, moment, moment + timedelta(microseconds=1)),
            ).fetchall()
            if row != [(moment, value(i, k))]:
                raise AssertionError(f"{variable}: reading {i} reads back as {row}, not {(moment, value(i, k))}")
        for table, width in (("rollup_1m", timedelta(minutes=1)), ("rollup_1h", timedelta(hours=1))):
            first = day_floor(loaded.start) + (loaded.start - day_floor(loaded.start)) // width * width
            last = loaded.end - timedelta(microseconds=1)
            last = day_floor(last) + (last - day_floor(last)) // width * width
            chosen = {first, last, loaded.packed_before - width, loaded.packed_before}
            chosen |= {first + width * rng.randrange((last - first) // width + 1) for _ in range(samples)}
            for bucket in sorted(b for b in chosen if first <= b <= last):
                stored = conn.execute(
                    f"select {STATE_COLUMNS} from {table} where series_id = %s and bucket = %s", (sid, bucket)
                ).fetchone()
                raw = conn.execute(RAW_BUCKET, {"series": sid, "lo": bucket, "hi": bucket + width}).fetchone()
                if stored != raw:
                    diff = {c: (s, r) for c, s, r in zip(STATE, stored or (), raw, strict=False) if s != r}
                    raise AssertionError(f"{variable}: {table} {bucket:%Y-%m-%d %H:%M} differs from raw: {diff}")
                buckets += 1
    entries = conn.execute(
        "select d.entry_count from datasets d join series s on s.dataset_id = d.id where s.id = %s",
        (next(iter(loaded.series.values())),),
    ).fetchone()[0]
    if entries != loaded.per_series * len(loaded.series):
        raise AssertionError(f"entry_count {entries:,}, not the {loaded.per_series * len(loaded.series):,} loaded")
    return {"buckets_compared": buckets, "check_s": round(time.perf_counter() - began, 1)}


def year_ending(now: datetime, days: float) -> tuple[datetime, datetime]:
    """[start, end) of `days` of readings ending at `now` (whole seconds)."""
    end = now.astimezone(UTC).replace(microsecond=0)
    return end - timedelta(seconds=round(days * DAY_S)), end
