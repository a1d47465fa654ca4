"""Batch writes: COPY rows into a staging table, then INSERT ... ON CONFLICT with rollups (services.worker.rollups);
a large batch first goes in as if its keys were new, without ON CONFLICT's check of each row.

Events and rejected records of the batch are written in the same transaction; variables of new series are
registered on first sight; registered devices' last-seen times are updated once per batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

import psycopg

from services.worker import packing, partitions, retention, rollups
from services.worker.normalize.rows import Batch, EventRow, Reject, Row
from shared import metrics
from shared.config import Settings
from shared.datasets import DATASET_WRITE_LOCK

log = logging.getLogger(__name__)

SeriesKey = tuple[int, str, str, str]  # dataset_id, device, variable, tags JSON

STAGING_DDL = """
create temp table if not exists staging_readings (
    series_id bigint, time timestamptz, v_num double precision, v_int bigint, v_str text, v_bool boolean,
    entry_id bigint, ord integer
) on commit delete rows
"""
STAGING_TYPES = ["int8", "timestamptz", "float8", "int8", "text", "bool", "int8", "int4"]
COLUMNS = "series_id, time, v_num, v_int, v_str, v_bool, entry_id, ord"  # ord: the later of two rows wins
PACK_BUDGET_S = 60.0  # a maintenance run packs for about this long, so a backlog never holds a worker for long
# A batch of at least this many rows is first written as if all its keys were new (services.worker.rollups): that
# saves ~1.5 us a row and costs a savepoint (two more round trips): for batches of 100-200 rows the two ways took
# the same time, for 500 rows the batch written as new took 10-20 % less.
ASSUME_NEW_FROM_ROWS = 200
# After a batch assumed new met a stored key (its statement was undone and run again), this many batches are written
# the usual way: a device that keeps resending what is stored makes the undone statements rare, not the rule.
CAUTIOUS_BATCHES = 16

CREATE_SERIES = """
insert into series (dataset_id, device, variable, tags)
select w.dataset_id, w.device, w.variable, w.tags
from unnest(%s::int[], %s::text[], %s::text[], %s::jsonb[]) as w(dataset_id, device, variable, tags)
join datasets d on d.id = w.dataset_id
on conflict do nothing
"""
# A separate statement (a new snapshot) sees series that a concurrent worker committed meanwhile.
FIND_SERIES = """
select w.ord, s.id
from unnest(%s::int[], %s::text[], %s::text[], %s::jsonb[])
    with ordinality as w(dataset_id, device, variable, tags, ord)
join series s using (dataset_id, device, variable, tags)
"""

# Variables of new series, appended after the dataset's existing ones; an existing tag is left as it is.
# They are not declared: they take no ThingSpeak field slot (shared.thingspeak.field_variables).
# Reserved names (`@latitude`, `@status`, ...: entry metadata, shared.thingspeak) are never variables.
REGISTER_VARIABLES = """
with fresh as (
    select distinct w.dataset_id, w.tag
    from unnest(%s::int[], %s::text[]) as w(dataset_id, tag)
    join datasets d on d.id = w.dataset_id
    where left(w.tag, 1) <> '@'
        and not exists (select 1 from variables v where v.dataset_id = w.dataset_id and v.tag = w.tag)
)
insert into variables (dataset_id, tag, name, declared, position)
select f.dataset_id, f.tag, f.tag, false,
    coalesce((select max(v.position) from variables v where v.dataset_id = f.dataset_id), -1)
    + row_number() over (partition by f.dataset_id order by f.tag)
from fresh f
order by f.dataset_id, f.tag
on conflict do nothing
"""

INSERT_EVENTS = """
insert into events (dataset_id, device, type, time, tag, fields)
select w.dataset_id, w.device, w.type, w.time, w.tag, w.fields
from unnest(%s::int[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::jsonb[])
    as w(dataset_id, device, type, time, tag, fields)
join datasets d on d.id = w.dataset_id
order by w.dataset_id, w.device, w.type, w.time
on conflict do nothing
"""

# Only rows that move forward are touched, so concurrent batches of one device rarely wait on each other.
MARK_SEEN = """
update devices d set last_seen_at = w.seen
from unnest(%s::int[], %s::text[], %s::timestamptz[]) as w(dataset_id, device_id, seen)
where d.dataset_id = w.dataset_id and d.device_id = w.device_id and d.revoked_at is null
    and (d.last_seen_at is null or d.last_seen_at < w.seen)
"""

# In dataset id order, so that writers never wait on each other in a cycle (deletions take one lock only).
LOCK_DATASETS = """
select pg_advisory_xact_lock_shared(%s, w.id) from (select id from unnest(%s::int[]) as id order by id) as w
"""
LIVE_DATASETS = "select id from datasets where id = any(%s)"


@dataclass
class WriteResult:
    stored: int
    duplicates: int
    rejected: int
    unknown_dataset: int
    events: int = 0
    variables_registered: int = 0

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


class Writer:
    """Writes normalized batches; owns one database connection and the caches that make writes cheap."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: psycopg.Connection | None = None
        self._series: dict[SeriesKey, int] = {}
        self._partitions: set[str] = set()  # filled by _connection()
        self._mode: str | None = None
        self._cautious = 0  # batches still to write the usual way after one assumed new met a stored key

    # connections -------------------------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        """The worker's connection, in autocommit mode: each `transaction()` block is a real transaction."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.settings.database_url, autocommit=True, connect_timeout=5)
            self._conn.execute(STAGING_DDL)
            row = self._conn.execute("select value from ownstream_meta where key = 'storage_mode'").fetchone()
            self._mode = row[0] if row else "partitioned"
            self._partitions = partitions.existing_partitions(self._conn) if self._mode == "partitioned" else set()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    # partitions --------------------------------------------------------------------------------------------
    def ensure_partitions(self, rows: list[Row] | None = None) -> None:
        """Create missing partitions for the span of `rows`' times (or for now and the periods ahead)."""
        conn = self._connection()
        if self._mode != "partitioned":
            return
        interval = self.settings.partition_interval
        if rows is None:
            starts = partitions.periods_ahead(datetime.now().astimezone(), interval, self.settings.partitions_ahead)
        else:  # the span, not each row: per-row date arithmetic cost a third of the worker's time
            times = [row.time for row in rows]
            starts = partitions.periods_between(min(times), max(times), interval)
        partitions.ensure_partitions(conn, starts, interval, self._partitions)

    def apply_retention(self) -> dict[int, int]:
        """Delete readings older than their dataset's retention period (see services.worker.retention)."""
        try:
            return retention.apply_retention(self._connection())
        except psycopg.OperationalError:
            self.close()
            raise

    def pack(self) -> int:
        """Pack cold readings (see services.worker.packing); nothing to do on TimescaleDB."""
        try:
            conn = self._connection()
            if self._mode != "partitioned":
                return 0
            return packing.pack(conn, timedelta(seconds=self.settings.pack_after_s), budget_s=PACK_BUDGET_S)
        except psycopg.OperationalError:
            self.close()
            raise

    # writes ------------------------------------------------------------------------------------------------
    def write(self, batch: Batch) -> WriteResult:
        """Store `batch` in one transaction: a resent reading changes nothing, a new value for a stored one wins."""
        conn = self._connection()
        try:
            if batch.rows:
                self.ensure_partitions(batch.rows)
            ids, unknown, registered = self._resolve_series(conn, batch.rows)
            with conn.transaction():
                ids, vanished = self._drop_deleted_datasets(conn, batch.rows, ids)
                unknown += vanished
                stored = self._insert(conn, batch.rows, ids)
                events = self._insert_events(conn, batch.events)
                self._insert_rejects(conn, batch.rejects)
            self._mark_seen(conn, batch.seen)
            return WriteResult(
                stored, len(batch.rows) - unknown - stored, len(batch.rejects), unknown, events, registered
            )
        except psycopg.OperationalError:
            self.close()
            raise

    def _resolve_series(self, conn: psycopg.Connection, rows: list[Row]) -> tuple[list[int | None], int, int]:
        """Series ids of `rows` (None for a deleted dataset), how many are None, and variables registered."""
        cache = self._series
        get = cache.get
        keys = [row[:4] for row in rows]
        ids = [get(key) for key in keys]
        registered = 0
        if None in ids:
            missing = sorted({key for key, series_id in zip(keys, ids, strict=True) if series_id is None})
            # sorted: one lock order for every worker, no deadlocks on the unique index
            arrays = [list(column) for column in zip(*missing, strict=True)]  # dataset, device, variable, tags
            with conn.transaction():
                conn.execute(CREATE_SERIES, arrays)
                registered = conn.execute(REGISTER_VARIABLES, (arrays[0], arrays[2])).rowcount
            for ordinal, series_id in conn.execute(FIND_SERIES, arrays).fetchall():
                cache[missing[ordinal - 1]] = series_id
            ids = [get(key) for key in keys]
        return ids, ids.count(None), registered

    def _drop_deleted_datasets(
        self, conn: psycopg.Connection, rows: list[Row], ids: list[int | None]
    ) -> tuple[list[int | None], int]:
        """Series ids of datasets deleted since they were cached become None (and leave the cache).

        The shared lock per dataset, held until this transaction ends, makes a deletion wait for this write
        and this write wait for a deletion under way: no reading is stored for a series that is going away.
        """
        datasets = sorted({row.dataset_id for row, series_id in zip(rows, ids, strict=True) if series_id is not None})
        if not datasets:
            return ids, 0
        conn.execute(LOCK_DATASETS, (DATASET_WRITE_LOCK, datasets))
        live = {dataset_id for (dataset_id,) in conn.execute(LIVE_DATASETS, (datasets,))}
        gone = set(datasets) - live
        if not gone:
            return ids, 0
        for key in [key for key in self._series if key[0] in gone]:
            del self._series[key]
        kept = [None if row.dataset_id in gone else series_id for row, series_id in zip(rows, ids, strict=True)]
        return kept, sum(1 for a, b in zip(ids, kept, strict=True) if a is not None and b is None)

    def _insert(self, conn: psycopg.Connection, rows: list[Row], ids: list[int | None]) -> int:
        if not rows:
            return 0
        written = 0
        with conn.cursor() as cur:
            with cur.copy(f"copy staging_readings ({COLUMNS}) from stdin (format binary)") as copy:
                copy.set_types(STAGING_TYPES)
                write_row = copy.write_row
                for ord_, (series_id, row) in enumerate(zip(ids, rows, strict=True)):
                    if series_id is not None:
                        write_row((series_id, *row[4:], ord_))
                        written += 1
            if self._mode == "partitioned":  # values already packed come back to hot rows first (rare)
                packing.unpack_colliding(cur)
            assume_new = written >= ASSUME_NEW_FROM_ROWS and not self._cautious
            self._cautious = max(0, self._cautious - 1)
            per_dataset, met_stored = rollups.write_readings(cur, self._mode != "timescaledb", written, assume_new)
            if met_stored:
                self._cautious = CAUTIOUS_BATCHES
            metrics.BATCH_WRITES.labels("fell_back" if met_stored else "as_new" if assume_new else "checked").inc()
            for dataset_id, count, latest, entry_id in per_dataset:
                cur.execute(
                    "update datasets set entry_count = entry_count + %s, last_entry_at = greatest(last_entry_at, %s),"
                    " last_entry_id = greatest(last_entry_id, coalesce(%s, 0)) where id = %s",
                    (count, latest, entry_id, dataset_id),
                )
        return sum(row[1] for row in per_dataset)

    def _insert_events(self, conn: psycopg.Connection, events: list[EventRow]) -> int:
        """Store events; one already stored (same dataset, device, type and time) is skipped."""
        if not events:
            return 0
        return conn.execute(INSERT_EVENTS, [list(column) for column in zip(*events, strict=True)]).rowcount

    def _mark_seen(self, conn: psycopg.Connection, seen: dict[tuple[int, str], datetime]) -> None:
        if not seen:
            return
        keys = sorted(seen)  # one lock order for every worker
        conn.execute(MARK_SEEN, ([k[0] for k in keys], [k[1] for k in keys], [seen[k] for k in keys]))

    def _insert_rejects(self, conn: psycopg.Connection, rejects: list[Reject]) -> None:
        if not rejects:
            return
        by_dataset: dict[int, int] = defaultdict(int)
        for reject in rejects:
            by_dataset[reject.dataset_id] += 1
        with conn.cursor() as cur:
            cur.executemany(
                "insert into rejected_records (dataset_id, received_at, source, format, device, reason, raw) "
                "select %s, %s, %s, %s, %s, %s, %s where exists (select 1 from datasets where id = %s)",
                [(*r, r.dataset_id) for r in rejects],
            )
