"""Pages of raw readings as JSON rows or columns, rendered by PostgreSQL and wrapped without per-row Python."""

from __future__ import annotations

from datetime import datetime

import orjson
import psycopg

from services.api.query.cursor import encode_cursor
from services.api.query.formats import EPOCH_TEXT, ROW_JSON, VALUE_JSON
from services.api.query.params import ReadQuery
from services.api.query.raw import page_sql, raw_select, tail_columns
from services.api.query.series import SeriesInfo, column_identity


def _header(query: ReadQuery, dataset_id: int, count: int, last: tuple | None, left_out: datetime | None) -> dict:
    """The page's fields besides its data: counts and where the next page starts."""
    return {
        "dataset": dataset_id,
        "count": count,
        "truncated": left_out is not None,
        "next_start": left_out,
        "next_cursor": encode_cursor(last[0], last[1], query.order) if left_out is not None and last else None,
    }


def _with_member(head: dict, name: str, raw_json: bytes) -> bytes:
    """`head` as JSON with one more member whose value is already JSON text."""
    return orjson.dumps(head, option=orjson.OPT_UTC_Z)[:-1] + b',"' + name.encode() + b'":' + raw_json + b"}"


def json_rows_page(conn: psycopg.Connection, dataset_id: int, series: list[SeriesInfo], query: ReadQuery) -> bytes:
    """`{"dataset", "count", "truncated", "next_start", "next_cursor", "rows": [...]}` as JSON bytes."""
    if not series:
        return _with_member(_header(query, dataset_id, 0, None, None), "rows", b"[]")
    source, order_by, params = raw_select(series, query.start, query.end, query.order, query.cursor)
    sql = page_sql(source, order_by, f"{ROW_JSON} as j") + f"""
    select coalesce(string_agg(j, ',' order by n) filter (where n <= %(limit)s), ''),
           count(*) filter (where n <= %(limit)s), {tail_columns()}
    from page"""
    with conn.cursor() as cur:
        text, count, last_time, last_sid, left_out = cur.execute(sql, {**params, "limit": query.limit}).fetchone()
    head = _header(query, dataset_id, count, (last_time, last_sid), left_out)
    return _with_member(head, "rows", b"[" + text.encode() + b"]")


def columns_page(conn: psycopg.Connection, dataset_id: int, series: list[SeriesInfo], query: ReadQuery) -> bytes:
    """The columns format, raw: one `time` and one `value` array per series, in the page's order."""
    by_id = {s.id: s for s in series}
    found, count, last, left_out = [], 0, None, None
    if series:
        source, order_by, params = raw_select(series, query.start, query.end, query.order, query.cursor)
        sql = page_sql(source, order_by, f"{EPOCH_TEXT} as t, {VALUE_JSON} as v") + f"""
        select sid, count(*), '[' || string_agg(t, ',' order by n) || ']', '[' || string_agg(v, ',' order by n) || ']',
               {tail_columns()}
        from page where n <= %(limit)s group by sid"""
        with conn.cursor() as cur:
            found = cur.execute(sql, {**params, "limit": query.limit}).fetchall()
        for row in found:
            count += row[1]
        if found:
            last, left_out = (found[0][4], found[0][5]), found[0][6]
    found.sort(key=lambda row: by_id[row[0]].rank)
    head = {**_header(query, dataset_id, count, last, left_out), "start": query.start,
            "end": query.end, "bucket": None, "bucket_s": None}
    parts = []
    for sid, _, times, values, *_ in found:
        member = orjson.dumps(column_identity(by_id[sid]))
        parts.append(member[:-1] + b',"time":' + times.encode() + b',"value":' + values.encode() + b"}")
    return _with_member(head, "series", b"[" + b",".join(parts) + b"]")

