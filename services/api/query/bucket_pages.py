"""Bucketed pages: `bucketed` rows for the selected series, auto widths, empty buckets filled, keyset paging."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import psycopg

from services.api.query.buckets import bucketed
from services.api.query.cursor import encode_cursor
from services.api.query.params import ReadQuery
from services.api.query.series import SeriesInfo, column_identity, identity
from services.api.query.times import align, duration_name
from shared.db import one_row
from shared.errors import BadRequest

MAX_FILLED = 100_000  # buckets per series when empty ones are filled in
NICE_S = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10_800,
    21_600,
    43_200,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
)
MICROSECOND = timedelta(microseconds=1)

EXTENT = """
select min(f.time), max(l.time) from unnest(%(ids)s::bigint[]) as s(id)
cross join lateral (select r.time from readings_in(array[s.id], %(start)s, %(end)s) r
                    order by r.time limit 1) f
cross join lateral readings_last(s.id, %(start)s, %(end)s, 1) l
"""


def nice_bucket(span: timedelta, points: int) -> timedelta:
    """The smallest round width that splits `span` into at most `points` buckets."""
    seconds = span.total_seconds() / points
    for width in NICE_S:
        if width >= seconds:
            return timedelta(seconds=width)
    return timedelta(days=-(-seconds // 86_400))


def span_of(cur: psycopg.Cursor, series: list[SeriesInfo], query: ReadQuery) -> tuple[datetime, datetime] | None:
    """The range buckets cover: as given, or narrowed to the data where start or end was left open."""
    if query.start_given and query.end_given:
        return query.start, query.end
    first, last = one_row(cur.execute(EXTENT, {"ids": [s.id for s in series], "start": query.start, "end": query.end}))
    if first is None:
        return None
    return (query.start if query.start_given else first), (query.end if query.end_given else last + MICROSECOND)


def bucket_rows(conn: psycopg.Connection, series: list[SeriesInfo], query: ReadQuery) -> tuple[timedelta, list]:
    """(width, rows of (bucket start, series, values...)) in page order, before paging."""
    with conn.cursor() as cur:
        span = span_of(cur, series, query) if series else None
        points = query.auto_points or 1000  # bucket=auto always sets it; 1000 is its default
        width = query.bucket or (nice_bucket(span[1] - span[0], points) if span else timedelta(hours=1))
        if span is None:
            return width, []
        if query.fill == "null":
            _grid(span, width)  # refuse too many buckets before computing any
        found = bucketed(cur, [s.id for s in series], query.start, query.end, width, query.aggs)
    by_id = {s.id: s for s in series}
    rows = [(row[1], by_id[row[0]], row[2:]) for row in found]
    if query.fill == "null" and rows:
        rows = _filled(rows, span, width, query)
    rows.sort(key=lambda row: (row[0], row[1].rank), reverse=query.order == "desc")
    return width, rows


def _filled(rows: list, span: tuple[datetime, datetime], width: timedelta, query: ReadQuery) -> list:
    """Every bucket of the span for each series with data, empty ones with null values."""
    low, count = _grid(span, width)
    present = {(row[1].id, row[0]): row for row in rows}
    empty = (None,) * len(query.aggs)
    out = []
    for found in {row[1].id: row[1] for row in rows}.values():
        out += [present.get((found.id, low + i * width), (low + i * width, found, empty)) for i in range(count)]
    return out


def _grid(span: tuple[datetime, datetime], width: timedelta) -> tuple[datetime, int]:
    """The first bucket and the number of buckets covering `span`; 400 when too many to fill."""
    low, high = align(span[0], width), align(span[1] - MICROSECOND, width)
    count = (high - low) // width + 1
    if count > MAX_FILLED:
        raise BadRequest(
            f"bucket: {count} buckets to fill per series (at most {MAX_FILLED}); use a wider "
            "bucket, a shorter range, or fill=none"
        )
    return low, count


def _paged(rows: list, query: ReadQuery) -> tuple[list, str | None, datetime | None]:
    """The page after the cursor: its rows, the next cursor and the next row's bucket start."""
    if query.cursor is not None:
        key = (query.cursor.time, query.cursor.series_id)
        ranks = {row[1].id: row[1].rank for row in rows}
        if key[1] not in ranks:
            raise BadRequest("cursor: it belongs to another query (its series has no buckets here)")
        mark = (key[0], ranks[key[1]])
        if query.order == "asc":
            rows = [row for row in rows if (row[0], row[1].rank) > mark]
        else:
            rows = [row for row in rows if (row[0], row[1].rank) < mark]
    page = rows[: query.limit]
    if len(rows) > query.limit:
        last = page[-1]
        return page, encode_cursor(last[0], last[1].id, query.order), rows[query.limit][0]
    return page, None, None


def bucket_page(conn: psycopg.Connection, dataset_id: int, series: list[SeriesInfo], query: ReadQuery) -> bytes:
    """A bucketed page as JSON rows or columns."""
    width, rows = bucket_rows(conn, series, query)
    page, next_cursor, next_start = _paged(rows, query)
    head = {
        "dataset": dataset_id,
        "bucket": duration_name(width),
        "bucket_s": _seconds(width),
        "count": len(page),
        "truncated": next_cursor is not None,
        "next_start": next_start,
        "next_cursor": next_cursor,
    }
    if query.format == "columns":
        lines: dict[int, dict] = {}
        for moment, found, values in page:
            line = lines.get(found.id)
            if line is None:
                line = lines[found.id] = {**column_identity(found), "time": [], **{a: [] for a in query.aggs}}
            line["time"].append(moment.timestamp())
            for agg, value in zip(query.aggs, values, strict=True):
                line[agg].append(value)
        ordered = [lines[s.id] for s in series if s.id in lines]  # series come in rank order
        body = {**head, "start": query.start, "end": query.end, "series": ordered}
    else:
        body = {
            **head,
            "rows": [
                {"time": moment, **identity(found), **dict(zip(query.aggs, values, strict=True))}
                for moment, found, values in page
            ],
        }
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def _seconds(width: timedelta) -> int | float:
    seconds = width.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds
