"""Per-dataset retention: readings (hot or packed) and rollups older than a dataset's retention_days are deleted."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg

from services.worker import packing, rollups
from shared.db import one_row

log = logging.getLogger(__name__)

RETENTION_LOCK = 73_110_003  # one worker at a time applies retention
CHUNK = 50_000  # rows per delete statement: short transactions, no long locks

DATASETS = "select id, retention_days from datasets where retention_days is not null order by id"
DELETE_CHUNK = """
with doomed as (
    select r.series_id, r.time from readings r join series s on s.id = r.series_id
    where s.dataset_id = %(ds)s and r.time < %(cutoff)s
    limit %(chunk)s
), gone as (
    delete from readings r using doomed d where r.series_id = d.series_id and r.time = d.time
    returning 1
)
update datasets set entry_count = greatest(entry_count - (select count(*) from gone), 0)
where id = %(ds)s
returning (select count(*) from gone)
"""


def apply_retention(conn: psycopg.Connection, now: datetime | None = None) -> dict[int, int]:
    """Delete expired readings of every dataset with a retention period; returns rows deleted per dataset.

    `conn` is in autocommit mode: each chunk commits on its own. Returns {} when another worker holds the lock.
    """
    if not one_row(conn.execute("select pg_try_advisory_lock(%s)", (RETENTION_LOCK,)))[0]:
        return {}
    try:
        moment = now or datetime.now(UTC)
        with_rollups = rollups.maintained(conn)
        deleted: dict[int, int] = {}
        for dataset_id, days in conn.execute(DATASETS).fetchall():
            try:
                cutoff = moment - timedelta(days=days)
            except OverflowError:  # a period longer than the calendar: nothing is old enough
                continue
            total = packing.expire(conn, dataset_id, cutoff)  # first: packs straddling the cutoff become hot rows
            while True:
                (count,) = one_row(conn.execute(DELETE_CHUNK, {"ds": dataset_id, "cutoff": cutoff, "chunk": CHUNK}))
                total += count
                if count < CHUNK:
                    break
            if total:
                deleted[dataset_id] = total
                if with_rollups:
                    rollups.expire(conn, dataset_id, cutoff)
                log.info("retention: deleted %d readings of dataset %d older than %s", total, dataset_id, cutoff)
        return deleted
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (RETENTION_LOCK,))
