"""Packing: worker maintenance moves cold readings into readings_packed; writers unpack what they collide with.

Invariant: each (series_id, time) is stored at most once, either as a hot row of `readings` or inside one pack.
A pack holds up to PACK_MAX values of one series within one UTC day. Every write transaction takes the shared
advisory lock of each UTC day its batch touches (readings_guard, migration 0003) before it inserts, and unpacks
the packs its rows fall within, so INSERT ... ON CONFLICT sees the stored value and skips or replaces it.
Packing a day takes that day's exclusive lock, so it never runs concurrently with a write into the same day.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from services.worker import partitions
from shared.db import one_row

log = logging.getLogger(__name__)

DAY_LOCK = 73_110  # pg_advisory_xact_lock(DAY_LOCK, day number): exclusive to pack a day, shared to write into it
ALL_DAYS = -1  # (DAY_LOCK, ALL_DAYS): shared by packing, exclusive for a write spanning more days than it locks
RUN_LOCK = 73_111  # (RUN_LOCK, 0): one worker at a time packs
# A partly packed partition more than RECLAIM_RATIO times the size of its live rows (plus RECLAIM_MIN) is rewritten.
RECLAIM_RATIO = 3
RECLAIM_MIN = 1 << 20
ROW_BYTES = 64  # heap bytes of a hot row, line pointer and alignment included
PACK_MAX = 1024  # values per pack: a short read unpacks at most this many values of a series
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVALS = {"d": "day", "w": "week", "m": "month"}

VALUES = "times, v_num, v_int, v_str, v_bool, entry_ids"
UNNEST = f"unnest({', '.join('p.' + c for c in VALUES.split(', '))})"

# The packs that the worker's staged rows (staging_readings, services.worker.storage) fall within, back to hot rows.
UNPACK_STAGED = f"""
with hit as (
    select distinct p.series_id, p.start from staging_readings s
    join readings_packed p on p.series_id = s.series_id and p.start <= s.time and p.start > s.time - interval '1 day'
        and p.stop >= s.time
), gone as (
    delete from readings_packed p using hit h where p.series_id = h.series_id and p.start = h.start
    returning p.*
)
insert into readings (series_id, time, v_num, v_int, v_str, v_bool, entry_id)
select p.series_id, u.* from gone p cross join lateral {UNNEST} u
on conflict do nothing
"""

# Packs `hot` (rows of [lo, hi)) merged with the packs of the same series starting in [lo, hi); returns the count of
# hot rows packed. `hot` either deletes the rows (a day) or selects them (a partition that is then truncated).
PACK = """
with hot as ({source}),
old as (
    delete from readings_packed p
    where p.start >= %(lo)s and p.start < %(hi)s and p.series_id in (select series_id from hot)
    returning p.*
),
vals as (
    select h.series_id, h.time, h.v_num, h.v_int, h.v_str, h.v_bool, h.entry_id from hot h
    union all
    select p.series_id, u.* from old p cross join lateral {unnest} u
),
numbered as (
    select v.*, date_bin('1 day', v.time, timestamptz '1970-01-01Z') as day,
        (row_number() over (partition by v.series_id, date_bin('1 day', v.time, timestamptz '1970-01-01Z')
                            order by v.time) - 1) / {most} as chunk
    from vals v
), packed as (
    insert into readings_packed (series_id, start, stop, n, {values})
    select series_id, min(time), max(time), count(*), array_agg(time order by time),
        case when count(v_num) > 0 then array_agg(v_num order by time) end,
        case when count(v_int) > 0 then array_agg(v_int order by time) end,
        case when count(v_str) > 0 then array_agg(v_str order by time) end,
        case when count(v_bool) > 0 then array_agg(v_bool order by time) end,
        case when count(entry_id) > 0 then array_agg(entry_id order by time) end
    from numbered group by series_id, day, chunk
    returning 1
)
select (select count(*) from hot), (select count(*) from packed)
"""
DELETE_DAY = (
    "delete from readings r where r.time >= %(lo)s and r.time < %(hi)s "
    "returning r.series_id, r.time, r.v_num, r.v_int, r.v_str, r.v_bool, r.entry_id"
)
SELECT_PARTITION = "select r.series_id, r.time, r.v_num, r.v_int, r.v_str, r.v_bool, r.entry_id from {table} r"

# Retention: whole packs past the cutoff go; a pack straddling it goes back to hot rows, which retention then trims.
EXPIRE_PACKS = """
with gone as (
    delete from readings_packed p using series s
    where s.id = p.series_id and s.dataset_id = %(ds)s and p.stop < %(cutoff)s
    returning p.n
)
update datasets set entry_count = greatest(entry_count - (select coalesce(sum(n), 0) from gone), 0)
where id = %(ds)s
returning (select coalesce(sum(n), 0) from gone)
"""
UNPACK_STRADDLING = f"""
with gone as (
    delete from readings_packed p using series s
    where s.id = p.series_id and s.dataset_id = %(ds)s and p.start < %(cutoff)s and p.stop >= %(cutoff)s
        and p.start > %(cutoff)s - interval '1 day'
    returning p.*
)
insert into readings (series_id, time, v_num, v_int, v_str, v_bool, entry_id)
select p.series_id, u.* from gone p cross join lateral {UNNEST} u
on conflict do nothing
"""

# Bytes on disk of all readings: every partition and the packs, with their indexes and TOAST.
SIZE = """
select (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) from pg_inherits i
        where i.inhparent = 'readings'::regclass)
    + pg_total_relation_size('readings')
    + pg_total_relation_size('readings_packed')
"""


def day_number(moment: datetime) -> int:
    return (moment - EPOCH) // DAY


def day_floor(moment: datetime) -> datetime:
    return EPOCH + DAY * day_number(moment)


def unpack_colliding(cur: psycopg.Cursor) -> int:
    """In a write transaction, before its insert: lock the staged rows' days, unpack the packs those rows fall in."""
    if not one_row(cur.execute("select readings_guard(min(time), max(time)) from staging_readings"))[0]:
        return 0
    return cur.execute(UNPACK_STAGED).rowcount


def expire(conn: psycopg.Connection, dataset_id: int, cutoff: datetime) -> int:
    """Retention for packs of one dataset: delete those wholly before `cutoff`; returns the values deleted."""
    with conn.transaction():
        _lock_days(conn, day_floor(cutoff), day_floor(cutoff) + DAY)
        conn.execute(UNPACK_STRADDLING, {"ds": dataset_id, "cutoff": cutoff})
    return one_row(conn.execute(EXPIRE_PACKS, {"ds": dataset_id, "cutoff": cutoff}))[0]


def _partition_span(name: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a partition named by services.worker.partitions, or None for any other name."""
    try:
        interval = INTERVALS[name[len("readings_")]]
        start = datetime.strptime(name[len("readings_") + 1 :], "%Y%m%d").replace(tzinfo=UTC)
    except (KeyError, IndexError, ValueError):
        return None
    return start, partitions.period_end(start, interval)


def _pack_sql(source: str) -> str:
    return PACK.format(source=source, unnest=UNNEST, most=PACK_MAX, values=VALUES)


def _lock_days(conn: psycopg.Connection, lo: datetime, hi: datetime) -> None:
    """Exclusive locks of the days in [lo, hi) (see readings_guard in migration 0003 for the writers' side)."""
    conn.execute("select pg_advisory_xact_lock_shared(%s, %s)", (DAY_LOCK, ALL_DAYS))
    conn.execute(
        "select pg_advisory_xact_lock(%s, d) from generate_series(%s::int, %s::int - 1) d",
        (DAY_LOCK, day_number(lo), day_number(hi)),
    )


def _pack_day(conn: psycopg.Connection, day: datetime) -> int:
    with conn.transaction():
        _lock_days(conn, day, day + DAY)  # a statement of its own: the packing statement's snapshot follows it
        hot, _ = one_row(conn.execute(_pack_sql(DELETE_DAY), {"lo": day, "hi": day + DAY}))
    return hot


def _pack_partition(conn: psycopg.Connection, name: str, lo: datetime, hi: datetime) -> int | None:
    """Pack a whole partition and truncate it (no dead rows left); None if readers kept it busy."""
    table = sql.Identifier(name).as_string(conn)
    try:
        with conn.transaction():
            _lock_days(conn, lo, hi)
            hot, _ = one_row(conn.execute(_pack_sql(SELECT_PARTITION.format(table=table)), {"lo": lo, "hi": hi}))
            conn.execute("set local lock_timeout = '2s'")  # never queue readers behind TRUNCATE for long
            conn.execute(f"truncate {table}")
        return hot
    except psycopg.errors.LockNotAvailable:
        return None


def _reclaim(conn: psycopg.Connection, name: str, deleted: int) -> None:
    """Make the space of deleted rows reusable; give it back when the partition is mostly empty space (a backfill).

    A rewrite left undone (readers kept the partition busy, or an old snapshot kept the rows) is retried next run.
    """
    table = sql.Identifier(name).as_string(conn)
    if deleted:
        conn.execute(f"vacuum {table}")  # also counts the live rows (reltuples) for the check below
    pages, rows = one_row(conn.execute("select relpages, reltuples from pg_class where oid = %s::regclass", (table,)))
    if pages * 8192 <= RECLAIM_RATIO * max(rows, 0) * ROW_BYTES + RECLAIM_MIN:
        return  # the partition's next rows reuse the space
    conn.execute("set lock_timeout = '5s'")  # rewriting the few live rows is short; never queue readers for long
    try:
        conn.execute(f"vacuum full {table}")
    except psycopg.errors.LockNotAvailable:
        log.info("packing: %s busy, its space is given back at a later run", name)
    finally:
        conn.execute("reset lock_timeout")


def _days_with_rows(conn: psycopg.Connection, name: str, before: datetime) -> list[datetime]:
    table = sql.Identifier(name).as_string(conn)
    rows = conn.execute(
        f"select distinct date_bin('1 day', time, %s) from {table} where time < %s order by 1", (EPOCH, before)
    ).fetchall()
    return [day for (day,) in rows]


def pack(conn: psycopg.Connection, after: timedelta, now: datetime | None = None, budget_s: float | None = None) -> int:
    """Pack the hot readings of every UTC day that ended `after` ago or earlier; returns the readings packed.

    `conn` is in autocommit mode; each day (or whole partition) is one transaction. Returns 0 when another worker
    is packing. Partitions wholly past the cutoff are packed and truncated; others lose their old days by DELETE.
    With `budget_s`, no new partition is started after that long (a backlog is packed over several runs).
    """
    deadline = None if budget_s is None else time.monotonic() + budget_s
    if not one_row(conn.execute("select pg_try_advisory_lock(%s, 0)", (RUN_LOCK,)))[0]:
        return 0
    try:
        cutoff = day_floor((now or datetime.now(UTC)) - after)
        total = 0
        for name in sorted(partitions.existing_partitions(conn)):
            span = _partition_span(name)
            if span is None or span[0] >= cutoff:
                continue
            if deadline is not None and time.monotonic() > deadline:
                break
            lo, hi = span
            if not one_row(conn.execute(f"select exists (select from {sql.Identifier(name).as_string(conn)})"))[0]:
                continue
            packed = _pack_partition(conn, name, lo, hi) if hi <= cutoff else None
            if packed is None:
                packed = sum(_pack_day(conn, day) for day in _days_with_rows(conn, name, cutoff))
                _reclaim(conn, name, packed)
            if packed:
                log.info("packing: packed %d readings of %s", packed, name)
            total += packed
        return total
    finally:
        conn.execute("select pg_advisory_unlock(%s, 0)", (RUN_LOCK,))
