"""Packed readings: cold values stored as one row of arrays per series and run, read through readings_in().

A hot row costs ~52 B of heap (24 B header, 4 B line pointer, 24 B of series_id, time and value) plus ~31 B of
primary-key btree, so no row-per-value layout reaches 60 B a value (narrower ids gain nothing: alignment pads
them back to 8 B). Worker maintenance therefore packs readings older than a few days into `readings_packed`
(services/worker/packing.py): up to PACK_MAX values of one series within one UTC day per row, times and values as
arrays that TOAST compresses (lz4 when the server has it). Every reader goes through `readings_in(series_ids,
lo, hi)`: the hot rows and the unnested packs in [lo, hi); readers of the newest few values of a series use
`readings_last(series_id, lo, hi, n)`. Both are SQL functions the planner inlines, so a reader changes only its
FROM clause and keeps index scans and partition pruning.

On TimescaleDB nothing is packed (its native compression does that); readings_in reads the hypertable alone and
`readings_packed` stays empty, so retention and dataset deletion need not know the storage mode.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = """series_id bigint, "time" timestamptz, v_num double precision, v_int bigint, v_str text, v_bool boolean,
    entry_id bigint"""

HOT = """
    select r.series_id, r.time, r.v_num, r.v_int, r.v_str, r.v_bool, r.entry_id
    from readings r
    where r.series_id = any(series_ids) and r.time >= lo and r.time < hi"""

# A pack never spans more than a day, so the packs overlapping [lo, hi) start in (lo - 1 day, hi): an index range.
PACKED = """
    select p.series_id, u.time, u.v_num, u.v_int, u.v_str, u.v_bool, u.entry_id
    from readings_packed p
    cross join lateral unnest(p.times, p.v_num, p.v_int, p.v_str, p.v_bool, p.entry_ids)
        as u(time, v_num, v_int, v_str, v_bool, entry_id)
    where p.series_id = any(series_ids) and p.start > lo - interval '1 day' and p.start < hi and p.stop >= lo
        and u.time >= lo and u.time < hi"""

# The newest `n` readings of one series in [lo, hi), newest first. A sort over readings_in() would unnest every pack
# in the range; packs of a series never overlap (packing merges a series' packs of a day), so the newest `n` packs
# overlapping the range hold the newest `n` packed values in it.
HOT_LAST = """
    (select r.series_id, r.time, r.v_num, r.v_int, r.v_str, r.v_bool, r.entry_id
     from readings r
     where r.series_id = one and r.time >= lo and r.time < hi
     order by r.time desc limit newest)"""
PACKED_LAST = """
    (select p.series_id, u.time, u.v_num, u.v_int, u.v_str, u.v_bool, u.entry_id
     from (select * from readings_packed q
           where q.series_id = one and q.start > lo - interval '1 day' and q.start < hi and q.stop >= lo
           order by q.start desc limit newest) p
     cross join lateral unnest(p.times, p.v_num, p.v_int, p.v_str, p.v_bool, p.entry_ids)
         as u(time, v_num, v_int, v_str, v_bool, entry_id)
     where u.time >= lo and u.time < hi)"""

# Called by a worker inside its write transaction, before it inserts: takes the shared lock of every UTC day the
# batch spans (packing takes the exclusive one, under the shared "all days" lock -1), or for a batch spanning more
# than 31 days the exclusive "all days" lock instead (a lock per day could fill the lock table). Then, with a fresh
# snapshot (plpgsql, volatile: each query takes one), says whether any of those days has packs, so that the worker
# unpacks what its rows would collide with.
GUARD = """
create or replace function readings_guard(lo timestamptz, hi timestamptz) returns boolean
language plpgsql volatile as $$
declare
    first_day timestamptz := date_bin('1 day', lo, timestamptz '1970-01-01Z');
    day timestamptz;
begin
    if hi - first_day > interval '31 days' then
        perform pg_advisory_xact_lock(73110, -1);
    else
        for day in select generate_series(first_day, hi, interval '1 day') loop
            perform pg_advisory_xact_lock_shared(73110, (extract(epoch from day) / 86400)::int);
        end loop;
    end if;
    return coalesce(exists (select 1 from readings_packed p where p.start >= first_day and p.start <= hi), false);
end
$$
"""


def _has_lz4() -> bool:
    found = (
        op.get_bind()
        .exec_driver_sql("select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'")
        .scalar()
    )
    return bool(found)


def upgrade() -> None:
    mode = (
        op.get_bind().exec_driver_sql("select value from ownstream_meta where key = 'storage_mode'").scalar()
        or "partitioned"
    )
    squeeze = " compression lz4" if _has_lz4() else ""
    op.execute(f"""
        create table readings_packed (
            series_id bigint not null,
            start timestamptz not null,
            stop timestamptz not null,
            n integer not null,
            times timestamptz[]{squeeze} not null,
            v_num double precision[]{squeeze},
            v_int bigint[]{squeeze},
            v_str text[]{squeeze},
            v_bool boolean[]{squeeze},
            entry_ids bigint[]{squeeze},
            primary key (series_id, start)
        ) with (toast_tuple_target = 128)
    """)
    # Which days have packs (the write guard and retention ask by time, not by series).
    op.execute("create index readings_packed_start on readings_packed (start)")
    body = HOT if mode == "timescaledb" else HOT + "\n    union all" + PACKED
    op.execute(f"""
        create or replace function readings_in(series_ids bigint[], lo timestamptz, hi timestamptz)
        returns table ({COLUMNS})
        language sql stable parallel safe as $body${body}
        $body$
    """)
    last = (
        "select * from ("
        + HOT_LAST
        + ("" if mode == "timescaledb" else "\n    union all" + PACKED_LAST)
        + ") x order by x.time desc limit newest"
    )
    op.execute(f"""
        create or replace function readings_last(one bigint, lo timestamptz, hi timestamptz, newest bigint)
        returns table ({COLUMNS})
        language sql stable parallel safe as $body$
        {last}
        $body$
    """)
    op.execute(GUARD)


def downgrade() -> None:
    # Packed values go back to the hot table (their partitions still exist: packing truncates, never drops).
    op.execute("""
        insert into readings (series_id, time, v_num, v_int, v_str, v_bool, entry_id)
        select p.series_id, u.* from readings_packed p
        cross join lateral unnest(p.times, p.v_num, p.v_int, p.v_str, p.v_bool, p.entry_ids) u
        on conflict do nothing
    """)
    op.execute("drop function if exists readings_guard(timestamptz, timestamptz)")
    op.execute("drop function if exists readings_last(bigint, timestamptz, timestamptz, bigint)")
    op.execute("drop function if exists readings_in(bigint[], timestamptz, timestamptz)")
    op.execute("drop table if exists readings_packed")
