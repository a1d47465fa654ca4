"""ThingSpeak feed averages and sums from the shared bucketed aggregation (rollups where they exist).

They apply when each requested tag is one series whose newest value is a ThingSpeak entry (its values are then
the entries' values: feeds hold entries only) and the buckets line up with the Unix epoch (UTC, or a zone whose
offset is a whole number of buckets); otherwise, and for `median` and `timescale`, the feed is computed from raw
entries (services.api.thingspeak_feeds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg

from services.api.query.buckets import bucketed
from services.api.query.times import EARLIEST, LATEST
from shared.db import one_row

if TYPE_CHECKING:
    from services.api.thingspeak_feeds import FeedQuery

MAX_FILLED_BUCKETS = 8000  # beyond this many buckets, empty ones are left out instead of filled in

AGGS = {"average": "avg", "sum": "sum"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PICKED = """
select t.ord, s.id from unnest(%(tags)s::text[]) with ordinality as t(tag, ord)
join series s on s.dataset_id = %(ds)s and s.variable = t.tag
"""
# where the newest `limit` entries begin: each series' newest `limit` times (backward index scans), merged
WINDOW_START = """
select min(time) from (
    select distinct t.time from unnest(%(ids)s::bigint[]) as p(id)
    cross join lateral readings_last(p.id, %(start)s, %(end)s, %(limit)s) t
    order by t.time desc limit %(limit)s
) newest
"""
# whether each series' newest value in the window is an entry (written through ThingSpeak's API): None if none
NEWEST_ARE_ENTRIES = """
select bool_and(t.entry_id is not null) from unnest(%(ids)s::bigint[]) as p(id)
cross join lateral readings_last(p.id, %(start)s, %(end)s, 1) t
"""
# values as ThingSpeak's text: a double's shortest text, or rounded to `round_to` decimals
SHOWN = """
select case when %(round)s::int is null then v::float8::text else round(v::float8::numeric, %(round)s::int)::text end
from unnest(%(values)s::float8[]) with ordinality as u(v, ord) order by ord
"""


def bucketed_feed(conn: psycopg.Connection, query: FeedQuery) -> list[tuple] | None:
    """Rows (bucket start, None, value text per tag...) oldest first, or None where this does not apply."""
    if query.aggregate not in AGGS or query.step is None or query.origin is None:
        return None
    if (query.origin - EPOCH) % query.step:
        return None
    with conn.cursor() as cur:
        picked = cur.execute(PICKED, {"tags": query.tags, "ds": query.dataset_id}).fetchall()
        positions = [ord_ for ord_, _ in picked]
        if len(positions) != len(set(positions)):  # a tag of several series (devices): entries pivot them
            return None
        if not picked:
            return []
        column = {sid: ord_ - 1 for ord_, sid in picked}
        start, end = query.start or EARLIEST, query.end or LATEST
        window = {"ids": list(column), "start": start, "end": end}
        if one_row(cur.execute(NEWEST_ARE_ENTRIES, window))[0] is False:  # other protocols' values: raw entries
            return None
        first = one_row(
            cur.execute(WINDOW_START, {"ids": list(column), "start": start, "end": end, "limit": query.limit})
        )[0]
        if first is None:
            return []
        found = bucketed(cur, list(column), first, end, query.step, [AGGS[query.aggregate]])
        buckets: dict[datetime, list] = {}
        for sid, moment, value in found:
            buckets.setdefault(moment, [None] * len(query.tags))[column[sid]] = value
        if buckets:
            low, high = min(buckets), max(buckets)
            if (high - low) / query.step <= MAX_FILLED_BUCKETS:
                for index in range(int((high - low) / query.step) + 1):
                    buckets.setdefault(low + index * query.step, [None] * len(query.tags))
        ordered = sorted(buckets.items())
        flat = [None if value is None else float(value) for _, values in ordered for value in values]
        texts = [row[0] for row in cur.execute(SHOWN, {"values": flat, "round": query.round_to}).fetchall()]
    width = len(query.tags)
    return [(moment, None, *texts[i * width : (i + 1) * width]) for i, (moment, _) in enumerate(ordered)]
