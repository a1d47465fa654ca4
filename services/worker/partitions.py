"""Native range partitions of `readings` (plain PostgreSQL); TimescaleDB manages its own chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

PARTITION_LOCK = 73_110_002


def period_start(moment: datetime, interval: str) -> datetime:
    """The start of the partition period holding `moment` (UTC)."""
    moment = moment.astimezone(UTC)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(start: datetime, interval: str) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def partition_name(start: datetime, interval: str) -> str:
    return f"readings_{interval[0]}{start:%Y%m%d}"


def existing_partitions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'readings'::regclass"
    ).fetchall()
    return {name for (name,) in rows}


def ensure_partitions(conn: psycopg.Connection, starts: set[datetime], interval: str, known: set[str]) -> None:
    """Create the partitions beginning at `starts` that do not exist yet, each in its own short transaction.

    `conn` must be in autocommit mode; an advisory lock keeps concurrent workers from racing on the DDL.
    """
    for start in sorted(starts):
        name = partition_name(start, interval)
        if name in known:
            continue
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
            conn.execute(
                f"create table if not exists {name} partition of readings "
                f"for values from ('{start.isoformat()}') to ('{period_end(start, interval).isoformat()}')"
            )
        known.add(name)


def periods_between(first: datetime, last: datetime, interval: str) -> set[datetime]:
    """The starts of every period from the one holding `first` to the one holding `last`."""
    start, starts = period_start(first, interval), set()
    while start <= last:
        starts.add(start)
        start = period_end(start, interval)
    return starts


def periods_ahead(now: datetime, interval: str, ahead: int) -> set[datetime]:
    """The current period and `ahead` more."""
    start = period_start(now, interval)
    starts = {start}
    for _ in range(ahead):
        start = period_end(start, interval)
        starts.add(start)
    return starts
