"""Pages of raw readings as JSON rows or columns, rendered by PostgreSQL and wrapped without per-row Python."""

from __future__ import annotations

from datetime import datetime

import orjson
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from services.api.query.cursor import encode_cursor
from services.api.query.formats import EPOCH_TEXT, ROW_JSON, VALUE_JSON
from services.api.query.params import ReadQuery
from services.api.query.raw import TAIL, page_sql, raw_select
from services.api.query.row_text import fetch_page_arrays, moment, rows_text
from services.api.query.series import SeriesInfo, column_identity
from shared.db import one_row


def _header(query: ReadQuery, dataset_id: int, count: int, last: tuple | None, left_out: datetime | None) -> dict:
    """The page's fields besides its data: counts and where the next page starts."""
    return {
        "dataset": dataset_id,
        "count": count,
        "truncated": left_out is not None,
        "next_start": left_out,
        "next_cursor": encode_cursor(last[0], last[1], query.order) if left_out is not None and last else None,
    }


class RawText(Loader):
    """Loads text columns as bytes."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def _with_member(head: dict, name: str, *raw_json: bytes) -> bytes:
    """`head` as JSON with one more member whose value is already JSON text (given in parts)."""
    head_json = orjson.dumps(head, option=orjson.OPT_UTC_Z)[:-1]
    return b"".join([head_json, b',"', name.encode(), b'":', *raw_json, b"}"])


def json_rows_page(conn: psycopg.Connection, dataset_id: int, series: list[SeriesInfo], query: ReadQuery) -> bytes:
    """`{"dataset", "count", "truncated", "next_start", "next_cursor", "rows": [...]}` as JSON bytes."""
    if not series:
        return _with_member(_header(query, dataset_id, 0, None, None), "rows", b"[]")
    source, order_by, params = raw_select(series, query.start, query.end, query.order, query.cursor)
    params["limit"] = query.limit
    hot, _, _ = raw_select(series, query.start, query.end, query.order, query.cursor, readings="readings_hot")
    packed, _, _ = raw_select(series, query.start, query.end, query.order, query.cursor, readings="readings_packed_in")
    page = fetch_page_arrays(conn, hot, packed, order_by, params, {s.id: s.rank for s in series})
    if page is not None:
        kept = min(len(page), query.limit)
        text = rows_text(page[:kept], series)
        if text is not None:
            last = (moment(int(page.unix_us[kept - 1])), int(page.sids[kept - 1])) if kept else None
            left_out = moment(int(page.unix_us[kept])) if len(page) > kept else None
            return _with_member(_header(query, dataset_id, kept, last, left_out), "rows", b"[", text, b"]")
    return _json_rows_in_sql(conn, dataset_id, query, source, order_by, params)


def _json_rows_in_sql(
    conn: psycopg.Connection, dataset_id: int, query: ReadQuery, source: str, order_by: str, params: dict
) -> bytes:
    """The rows rendered by PostgreSQL, one expression per row: pages that `rows_text` cannot lay out."""
    sql = f"""select coalesce(string_agg(j, ',') filter (where n <= %(limit)s), ''),
        count(*) filter (where n <= %(limit)s), {TAIL}
        from {page_sql(source, order_by, f"{ROW_JSON} as j")}"""
    with conn.cursor() as cur:
        cur.adapters.register_loader("text", RawText)  # the rows' JSON stays bytes: no decoding and re-encoding
        text, count, last_time, last_sid, left_out = one_row(cur.execute(sql, params))
    head = _header(query, dataset_id, count, (last_time, last_sid), left_out)
    return _with_member(head, "rows", b"[", text, b"]")


def columns_page(conn: psycopg.Connection, dataset_id: int, series: list[SeriesInfo], query: ReadQuery) -> bytes:
    """The columns format, raw: one `time` and one `value` array per series, in the page's order."""
    by_id = {s.id: s for s in series}
    found, count, last, left_out = [], 0, None, None
    if series:
        source, order_by, params = raw_select(series, query.start, query.end, query.order, query.cursor)
        # one pass: each series' arrays in page order, and on the rows holding them, the page's tail
        ordered = "" if len(series) == 1 else " order by n"  # one series: the subquery's order is the order
        grouped = "" if len(series) == 1 else " group by sid"
        sql = f"""select min(sid), count(*) filter (where n <= %(limit)s),
            '[' || string_agg(t, ','{ordered}) filter (where n <= %(limit)s) || ']',
            '[' || string_agg(v, ','{ordered}) filter (where n <= %(limit)s) || ']', {TAIL}
            from {page_sql(source, order_by, f"{EPOCH_TEXT} as t, {VALUE_JSON} as v")}{grouped}"""
        with conn.cursor() as cur:
            rows = cur.execute(sql, {**params, "limit": query.limit}).fetchall()
        last = next(((row[4], row[5]) for row in rows if row[4] is not None), None)
        left_out = next((row[6] for row in rows if row[6] is not None), None)
        found = [row for row in rows if row[1]]  # a series seen only in the row left out has no values here
        count = sum(row[1] for row in found)
    found.sort(key=lambda row: by_id[row[0]].rank)
    head = {
        **_header(query, dataset_id, count, last, left_out),
        "start": query.start,
        "end": query.end,
        "bucket": None,
        "bucket_s": None,
    }
    parts = []
    for sid, _, times, values, *_ in found:
        member = orjson.dumps(column_identity(by_id[sid]))
        parts.append(member[:-1] + b',"time":' + times.encode() + b',"value":' + values.encode() + b"}")
    return _with_member(head, "series", b"[" + b",".join(parts) + b"]")
