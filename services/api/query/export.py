"""Streaming export of raw readings as CSV or NDJSON: text built by PostgreSQL, sent by COPY block by block."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import psycopg

from services.api.query.cursor import Cursor
from services.api.query.formats import CSV_HEADER, ROW_JSON, TIME_TEXT, VALUE_TEXT
from services.api.query.params import ReadQuery
from services.api.query.raw import raw_select
from services.api.query.series import matching_series
from shared.config import Settings
from shared.db import connect_reads

CSV_COLUMNS = (
    f"{TIME_TEXT} as time, k.variable, nullif(k.device, '') as device, "
    f"nullif(k.tags_text, '') as tags, {VALUE_TEXT} as value"
)  # NULL: an unquoted empty cell
# One JSON text per line: CSV with quote and delimiter characters that JSON text from to_json never holds
# raw (it escapes every control character), so no row is ever quoted or escaped.
NDJSON_OPTIONS = "(format csv, quote e'\\x01', delimiter e'\\x02')"
CHUNK = 65_536
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


def export_rows(
    conn: psycopg.Connection,
    dataset_id: int,
    start: datetime,
    end: datetime,
    fmt: str,
    variables: list[str] | None = None,
    device: str | None = None,
    tags: dict[str, list[str]] | None = None,
    *,
    order: str = "asc",
    limit: int | None = None,
    after: Cursor | None = None,
) -> Iterator[bytes]:
    """Blocks of the readings in [start, end) in (time, series) order; memory stays flat at any size."""
    series = matching_series(conn, dataset_id, variables, device, tags)
    source, order_by, params = raw_select(series, start, end, order, after) if series else ("", "", {})
    if fmt == "csv":
        yield (CSV_HEADER + "\n").encode()
    if not series:
        return
    columns = CSV_COLUMNS if fmt == "csv" else ROW_JSON
    options = "(format csv)" if fmt == "csv" else NDJSON_OPTIONS
    limited = " limit %(limit)s" if limit is not None else ""
    statement = f"copy (select {columns} from {source} order by {order_by}{limited}) to stdout {options}"
    with conn.cursor() as cur, cur.copy(statement, {**params, "limit": limit}) as copy:
        # COPY sends a message per row: gather them, so the response sends (and threads hop) per 64 KiB
        pending, size = [], 0
        for block in copy:
            pending.append(bytes(block))
            size += len(block)
            if size >= CHUNK:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


def stream_export(settings: Settings, dataset_id: int, query: ReadQuery) -> Iterator[bytes]:
    """export_rows on a connection of its own, held until the last block (or the client leaving) and closed."""
    conn = connect_reads(settings)
    try:
        with conn.transaction():
            conn.execute("set transaction read only")
            yield from export_rows(
                conn,
                dataset_id,
                query.start,
                query.end,
                query.format,
                query.variables,
                query.device,
                query.tags,
                order=query.order,
                limit=query.limit if query.limit_given else None,
                after=query.cursor,
            )
    finally:
        conn.close()


def started(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """`blocks` with its first one already taken, so that bad input fails before the response starts."""
    try:
        first = next(blocks)
    except StopIteration:
        return iter(())
    return itertools.chain([first], blocks)
