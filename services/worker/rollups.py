"""The write side of readings and their rollups (shared.rollups): last write wins, resends count nothing.

A batch is written by one statement that inserts the new readings (ON CONFLICT DO NOTHING) and merges exactly
the inserted numeric rows into `rollup_1m` and `rollup_1h`, so a resent batch adds nothing. Only if some rows
were already stored does a second statement replace those whose value differs (a correction); the buckets of
replaced rows are then locked and recomputed from raw readings, since a min or max cannot be taken back.
On TimescaleDB the rollups are continuous aggregates, so only the readings are written.

A large batch is first written as if every key were new: the same statement without ON CONFLICT, in a savepoint.
ON CONFLICT's check of each row against the key index cost 1.4-1.8 us a row, a quarter of PostgreSQL's time in
B2, where the unique index alone still refuses a key stored twice. If a key was there (a resend, a correction, a
concurrent writer of the same key that commits first), the statement fails with a unique violation, the savepoint
undoes it, rollups included, and the batch is written the usual way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import psycopg

from shared.rollups import (
    MERGE_INTO_STORED,
    MERGED_STATE,
    NUMERIC,
    RAW_STATE,
    REPLACE_STORED,
    ROLLUPS,
    STATE,
    STATE_COLUMNS,
    bucket_of,
    interval,
    raw_state,
)

MINUTE, HOUR = dict(ROLLUPS)["rollup_1m"], dict(ROLLUPS)["rollup_1h"]

# The batch, one row per key: when a key comes twice, the later row (higher `ord`) wins.
BATCH = """
batch as (
    select distinct on (series_id, time) series_id, time, v_num, v_int, v_str, v_bool, entry_id
    from staging_readings order by series_id, time, ord desc
)"""


def _inserted(on_conflict: str) -> str:
    return f"""
inserted as (
    insert into readings (series_id, time, v_num, v_int, v_str, v_bool, entry_id)
    select series_id, time, v_num, v_int, v_str, v_bool, entry_id from batch
    order by series_id, time  -- one lock order for concurrent writers of overlapping batches{on_conflict}
    returning series_id, time, v_num, v_int, entry_id
)"""


INSERTED = _inserted("\n    on conflict do nothing")
INSERTED_NEW = _inserted("")  # for a batch assumed new: a key stored already fails it (unique_violation)

# Per dataset: rows inserted, their latest time and entry, and how many keys of the batch were there already.
PER_DATASET = """
select s.dataset_id, count(i.series_id), max(i.time), max(i.entry_id)
from inserted i join series s on s.id = i.series_id
group by s.dataset_id order by s.dataset_id
"""

# A bucket's first and last values are those of the inserted rows at its first and last time, found by joining back
# (a (series, time) is inserted once). RAW_STATE's ordered array_aggs sort each bucket's rows four times: for large
# buckets (thousands of readings of one series in a minute) that cost twice the rest of the aggregation.
ORDERLESS = [name for name in STATE if name not in ("first_num", "first_int", "last_num", "last_int")]
ROLLUP_DELTAS = f"""
counted_1m as (
    select series_id, {bucket_of("time", MINUTE)} as bucket, {raw_state(ORDERLESS)}
    from inserted where {NUMERIC} group by 1, 2
), delta_1m as (
    select c.series_id, c.bucket, c.n_num, c.sum_num, c.min_num, c.max_num, c.n_int, c.sum_int, c.min_int, c.max_int,
        c.first_time, f.v_num as first_num, f.v_int as first_int, c.last_time, l.v_num as last_num, l.v_int as last_int
    from counted_1m c
    join inserted f on f.series_id = c.series_id and f.time = c.first_time
    join inserted l on l.series_id = c.series_id and l.time = c.last_time
), delta_1h as (
    select series_id, {bucket_of("bucket", HOUR)} as bucket, {MERGED_STATE}
    from delta_1m group by 1, 2
), merged_1m as (
    insert into rollup_1m as u (series_id, bucket, {STATE_COLUMNS})
    select d.* from delta_1m d where exists (select 1 from series s where s.id = d.series_id)
    order by 1, 2  -- one lock order for every worker
    on conflict (series_id, bucket) do update set {MERGE_INTO_STORED}
), merged_1h as (
    insert into rollup_1h as u (series_id, bucket, {STATE_COLUMNS})
    select d.* from delta_1h d where exists (select 1 from series s where s.id = d.series_id)
    order by 1, 2
    on conflict (series_id, bucket) do update set {MERGE_INTO_STORED}
)"""

INSERT_READINGS = f"with {BATCH}, {INSERTED} {PER_DATASET}"
INSERT_READINGS_AND_ROLLUPS = f"with {BATCH}, {INSERTED}, {ROLLUP_DELTAS} {PER_DATASET}"
INSERT_NEW_READINGS = f"with {BATCH}, {INSERTED_NEW} {PER_DATASET}"
INSERT_NEW_READINGS_AND_ROLLUPS = f"with {BATCH}, {INSERTED_NEW}, {ROLLUP_DELTAS} {PER_DATASET}"

# Stored keys whose value differs from the batch's: locked in key order, then replaced.
REPLACE_READINGS = f"""
with {BATCH}, changed as (
    select r.series_id, r.time from readings r join batch b on b.series_id = r.series_id and b.time = r.time
    where (r.v_num, r.v_int, r.v_str, r.v_bool) is distinct from (b.v_num, b.v_int, b.v_str, b.v_bool)
    order by r.series_id, r.time
    for update of r
)
update readings r set v_num = b.v_num, v_int = b.v_int, v_str = b.v_str, v_bool = b.v_bool
from changed c join batch b on b.series_id = c.series_id and b.time = c.time
where r.series_id = c.series_id and r.time = c.time
returning r.series_id, r.time
"""

KEYS = "keys as (select * from unnest(%(series)s::bigint[], %(times)s::timestamptz[]) as k(series_id, time))"


def _lock_sql(table: str, width: timedelta) -> str:
    # A bucket with no row yet gets an empty one, so that a concurrent writer's first merge waits for us too.
    return f"""
{table}_locked as (
    insert into {table} as u (series_id, bucket, n_num, n_int)
    select distinct k.series_id, {bucket_of("k.time", width)}, 0, 0 from keys k
    where exists (select 1 from series s where s.id = k.series_id)
    order by 1, 2
    on conflict (series_id, bucket) do update set n_num = u.n_num
)"""


def _recompute_sql(table: str, width: timedelta) -> str:
    return f"""
{table}_touched as (
    select distinct series_id, {bucket_of("time", width)} as bucket from keys
), {table}_fresh as (
    select t.series_id, t.bucket, {RAW_STATE}
    from {table}_touched t  -- hot and packed readings alike (readings_in, migration 0003)
    cross join lateral readings_in(array[t.series_id], t.bucket, t.bucket + {interval(width)}) r
    where {NUMERIC}
    group by t.series_id, t.bucket
), {table}_kept as (
    insert into {table} as u (series_id, bucket, {STATE_COLUMNS})
    select * from {table}_fresh order by 1, 2
    on conflict (series_id, bucket) do update set {REPLACE_STORED}
), {table}_emptied as (
    delete from {table} u using {table}_touched t
    where u.series_id = t.series_id and u.bucket = t.bucket
        and not exists (select 1 from {table}_fresh f where f.series_id = t.series_id and f.bucket = t.bucket)
)"""


LOCK_BUCKETS = f"with {KEYS}, {_lock_sql('rollup_1m', MINUTE)}, {_lock_sql('rollup_1h', HOUR)} select 1"
RECOMPUTE_BUCKETS = f"with {KEYS}, {_recompute_sql('rollup_1m', MINUTE)}, {_recompute_sql('rollup_1h', HOUR)} select 1"


def recompute(conn: psycopg.Connection, series: Sequence[int], times: Sequence[datetime]) -> None:
    """Recompute from raw readings the rollup buckets holding each (series, time), inside the caller's transaction.

    The bucket rows are locked first; the recompute runs as a new statement, whose snapshot then holds every
    reading of a writer that merged into those rows before us (it committed before our lock was granted).
    Writers still busy merge their own rows after us, on top of a state that does not count them.
    """
    if not series:
        return
    keys = {"series": list(series), "times": list(times)}
    conn.execute(LOCK_BUCKETS, keys)
    conn.execute(RECOMPUTE_BUCKETS, keys)


def write_readings(
    cur: psycopg.Cursor, maintain_rollups: bool, batch_rows: int, assume_new: bool = False
) -> tuple[list[tuple], bool]:
    """Write staging_readings (`batch_rows` rows): PER_DATASET rows for the readings inserted, and whether a batch
    written with `assume_new` met a stored key (it was then written the usual way)."""
    if assume_new:
        try:
            with cur.connection.transaction():  # a savepoint: a stored key undoes this statement only
                # every key went in with the batch's value: nothing to replace
                return cur.execute(
                    INSERT_NEW_READINGS_AND_ROLLUPS if maintain_rollups else INSERT_NEW_READINGS
                ).fetchall(), False
        except psycopg.errors.UniqueViolation:
            pass
    per_dataset = cur.execute(INSERT_READINGS_AND_ROLLUPS if maintain_rollups else INSERT_READINGS).fetchall()
    if sum(row[1] for row in per_dataset) < batch_rows:  # some keys were stored already: resent or corrected
        replaced = cur.execute(REPLACE_READINGS).fetchall()
        if replaced and maintain_rollups:
            recompute(cur.connection, [key[0] for key in replaced], [key[1] for key in replaced])
    return per_dataset, assume_new


def maintained(conn: psycopg.Connection) -> bool:
    """Whether the workers keep the rollup tables (plain PostgreSQL), rather than TimescaleDB."""
    row = conn.execute("select value from ownstream_meta where key = 'storage_mode'").fetchone()
    return (row[0] if row else "partitioned") != "timescaledb"


def expire(conn: psycopg.Connection, dataset_id: int, cutoff: datetime) -> None:
    """After retention deleted a dataset's readings before `cutoff`: drop their buckets, recompute the cut ones."""
    with conn.transaction():
        series = [i for (i,) in conn.execute("select id from series where dataset_id = %s order by id", (dataset_id,))]
        for table, width in ROLLUPS:
            conn.execute(
                f"delete from {table} where series_id = any(%s) and bucket + {interval(width)} <= %s", (series, cutoff)
            )
        recompute(conn, series, [cutoff] * len(series))
