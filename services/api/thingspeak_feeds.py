"""ThingSpeak feeds from narrow readings: entries pivoted, bucketed and aggregated in SQL.

An entry is the set of a dataset's readings at one time (the fields, plus location and status) written through
ThingSpeak's API, so with an entry id: readings that came by other protocols have none and are not entries.
Its values come back as text, as ThingSpeak gives them. The newest `limit` entries of the window are used, oldest first;
aggregations bucket those entries with date_bin and fill empty buckets between the first and the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.api.query.times import EARLIEST, LATEST
from services.api.readings import _cursor, driver_connection
from services.api.thingspeak_buckets import MAX_FILLED_BUCKETS, bucketed_feed

TEXT = "coalesce(r.v_str, r.v_int::text, r.v_num::text, r.v_bool::text)"
NUMBER = "coalesce(r.v_num, r.v_int::double precision)"
AGGREGATES = {
    # in numeric, so sums and averages of large numbers cannot overflow double precision midway
    "average": "avg(n{i}::numeric)::float8",
    # greatest/least skip nulls: without the count, a bucket with no value would sum to -1.797e308
    "sum": "(case when count(n{i}) > 0 then least(greatest(sum(n{i}::numeric), -1.7976931348623157e308), "
    "1.7976931348623157e308) end)::float8",
    "median": "percentile_cont(0.5) within group (order by n{i})",
}


@dataclass(frozen=True)
class FeedQuery:
    """What to read: the tags of the entry's columns, the time window, how many entries, how to bucket."""

    dataset_id: int
    tags: list[str]  # field tags in field order, then any location/status tags
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    aggregate: str | None = None  # timescale | average | sum | median
    step: timedelta | None = None
    origin: datetime | None = None  # where buckets start (local midnight for daily buckets)
    round_to: int | None = None

    def params(self) -> dict:
        """The parameters of the feed's SQL (an open window runs from EARLIEST to LATEST)."""
        return {
            "ds": self.dataset_id,
            "tags": self.tags,
            "limit": self.limit,
            "start": self.start or EARLIEST,
            "end": self.end or LATEST,
            "step": self.step,
            "origin": self.origin,
        }


def _entries_sql(count: int) -> str:
    columns = ",\n".join(
        f"max({TEXT}) filter (where p.ord = {i}) as c{i}, max({NUMBER}) filter (where p.ord = {i}) as n{i}"
        for i in range(1, count + 1)
    )
    return f"""
    with picked as (
        select s.id, t.ord
        from unnest(%(tags)s::text[]) with ordinality as t(tag, ord)
        join series s on s.dataset_id = %(ds)s and s.variable = t.tag
    ),
    newest as (  -- the newest `limit` entry times: each series' newest `limit` (backward index scans), merged
        select distinct t.time from picked p cross join lateral (
            select r.time from readings_in(array[p.id], %(start)s, %(end)s) r
            where r.entry_id is not null
            order by r.time desc limit %(limit)s
        ) t
        order by t.time desc limit %(limit)s
    ),
    entries as (
        select r.time, max(r.entry_id) as entry_id,
        {columns}
        from picked p cross join lateral readings_in(array[p.id], (select min(time) from newest), %(end)s) r
        where r.entry_id is not null
        group by r.time
    )"""


def _shown(expression_text: str, expression_number: str, round_to: int | None) -> str:
    if round_to is None:
        return expression_text
    return f"coalesce(round(({expression_number})::numeric, {round_to})::text, {expression_text})"


def _plain_sql(count: int, round_to: int | None) -> str:
    shown = ", ".join(_shown(f"c{i}", f"n{i}", round_to) for i in range(1, count + 1))
    return _entries_sql(count) + f"\nselect time, entry_id, {shown} from entries order by time"


def _bucketed_sql(count: int, aggregate: str, round_to: int | None) -> str:
    if aggregate == "timescale":  # the first entry of each bucket, whole
        values = ", ".join(
            f"(array_agg({_shown(f'c{i}', f'n{i}', round_to)} order by time))[1] as v{i}" for i in range(1, count + 1)
        )
    else:
        template = AGGREGATES[aggregate]
        values = ", ".join(
            f"{_shown(template.format(i=i) + '::text', template.format(i=i), round_to)} as v{i}"
            for i in range(1, count + 1)
        )
    names = ", ".join(f"b.v{i}" for i in range(1, count + 1))
    return (
        _entries_sql(count)
        + f""",
    bucketed as (
        select date_bin(%(step)s, time, %(origin)s) as bucket, {values}
        from entries group by 1
    ),
    span as (select min(bucket) as lo, max(bucket) as hi from bucketed),
    grid as (
        select generate_series(lo, hi, %(step)s) as bucket from span where hi - lo <= %(step)s * {MAX_FILLED_BUCKETS}
        union select bucket from bucketed
    )
    select g.bucket, null::bigint, {names} from grid g left join bucketed b using (bucket) order by g.bucket"""
    )


def read_feed(session: Session, query: FeedQuery) -> list[tuple]:
    """Rows (created_at, entry_id or None, value text per tag...) oldest first."""
    if query.aggregate in ("average", "sum"):
        rows = bucketed_feed(driver_connection(session), query)
        if rows is not None:
            return rows
    count = len(query.tags)
    if query.aggregate:
        sql = _bucketed_sql(count, query.aggregate, query.round_to)
    else:
        sql = _plain_sql(count, query.round_to)
    with _cursor(session) as cur:
        cur.execute(sql, query.params())
        return cur.fetchall()


LAST_VALUE = """
select r.time, r.entry_id, coalesce(r.v_str, r.v_int::text, r.v_num::text, r.v_bool::text)
from series s cross join lateral (  -- the newest entry among the series' newest values (readings_last is cheap)
    select * from readings_last(s.id, '-infinity', 'infinity', 50) x where x.entry_id is not null
) r
where s.dataset_id = %(ds)s and s.variable = %(tag)s
order by r.time desc limit 1
"""


# When other protocols wrote the variable more often since its last entry: the newest entry, however far back
# (a backward scan for an entry id, as the feeds do).
LAST_ENTRY_VALUE = f"""
select r.time, r.entry_id, {TEXT}
from series s cross join lateral (
    select * from readings_in(array[s.id], %(start)s, %(end)s) x where x.entry_id is not null
    order by x.time desc limit 1
) r
where s.dataset_id = %(ds)s and s.variable = %(tag)s
"""


def last_value(session: Session, dataset_id: int, tag: str) -> tuple | None:
    """(time, entry_id, text) of the newest entry's value of one variable, or None."""
    params = {"ds": dataset_id, "tag": tag, "start": EARLIEST, "end": LATEST}
    with _cursor(session) as cur:
        cur.execute(LAST_VALUE, params)
        found = cur.fetchone()
        if found is None:
            cur.execute(LAST_ENTRY_VALUE, params)
            found = cur.fetchone()
        return found
