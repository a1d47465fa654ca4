"""JSON rows rendered by numpy (row_text) are byte for byte those PostgreSQL renders (formats.ROW_JSON).

The SQL renderer is the reference: every page below is rendered both ways, over every value kind, fractional
times, several series with devices and tags, hot and packed readings, both orders, small limits and cursors.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from services.api.query.cursor import decode_cursor
from services.api.query.pages import _json_rows_in_sql, json_rows_page
from services.api.query.params import DEFAULT_LIMIT, ReadQuery
from services.api.query.raw import raw_select
from services.api.query.row_text import fetch_page_arrays, rows_text
from services.api.query.series import matching_series
from services.worker.packing import pack
from tests.support.factories import make_dataset
from tests.support.readings import store

START = datetime(2026, 1, 30, 23, 59, 58, tzinfo=UTC)  # Jan 30 is packed below, Jan 31 stays hot
VALUES = [
    0.0, 40.0, 40.1, -2.5, 1e-05, 1.5e20, 1e15, 123456789012345.0, 0.30000000000000004, 1.7976931348623157e308,
    0, 7, -9, 2**53 + 1, 2**63 - 1, -(2**63),
    True, False,
    "", "plain", 'a " b \\ c', "tab\tnew\nline", "x" * 22,  # 24 bytes as JSON: the widest slot
]  # fmt: skip


def query(**changes: object) -> ReadQuery:
    base = ReadQuery(
        start=START - timedelta(days=1), end=START + timedelta(days=2), start_given=True, end_given=True,
        variables=None, device=None, tags=None, order="asc", limit=DEFAULT_LIMIT, limit_given=False, cursor=None,
        bucket=None, auto_points=None, aggs=(), fill="null", format="json",
    )  # fmt: skip
    return replace(base, **changes)


def both(conn: psycopg.Connection, dataset_id: int, q: ReadQuery) -> tuple[bytes, bytes]:
    """(the page as served, the page rendered by PostgreSQL alone)."""
    series = matching_series(conn, dataset_id, q.variables, q.device, q.tags)
    source, order_by, params = raw_select(series, q.start, q.end, q.order, q.cursor)
    return json_rows_page(conn, dataset_id, series, q), _json_rows_in_sql(
        conn, dataset_id, q, source, order_by, {**params, "limit": q.limit}
    )


def laid_out_by_numpy(conn: psycopg.Connection, dataset_id: int, q: ReadQuery) -> bool:
    series = matching_series(conn, dataset_id, q.variables, q.device, q.tags)
    _, order_by, params = raw_select(series, q.start, q.end, q.order, q.cursor)
    hot, _, _ = raw_select(series, q.start, q.end, q.order, q.cursor, readings="readings_hot")
    packed, _, _ = raw_select(series, q.start, q.end, q.order, q.cursor, readings="readings_packed_in")
    page = fetch_page_arrays(conn, hot, packed, order_by, {**params, "limit": q.limit}, {s.id: s.rank for s in series})
    return page is not None and rows_text(page, series) is not None


@pytest.fixture
def mixed(settings):
    """Three series (two devices, one tagged) with every value kind, whole and fractional times, over a packed
    day and a hot one."""
    dataset = make_dataset(settings)
    readings = []
    for i, value in enumerate(VALUES):
        moment = START + timedelta(seconds=i, microseconds=(0 if i % 3 else 250_000 * (i % 4) + i))
        readings.append(("d1", "v", {}, moment, value))
        readings.append(("d2", "v", {"rack": 'a"b'}, moment, value))
        readings.append(("", "w", {}, START + timedelta(seconds=2 * i), i * 0.5))
    store(settings, dataset.id, readings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert pack(conn, timedelta(days=1), now=START + timedelta(days=1, hours=12)) > 0
    return dataset


def test_every_value_kind_time_and_series_renders_as_postgresql_does(settings, mixed):
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("select count(*) from readings_packed").fetchone()[0] > 0
        assert conn.execute("select count(*) from readings_hot(array(select id from series), '-infinity', "
                            "'infinity')").fetchone()[0] > 0  # fmt: skip
        for q in (
            query(),
            query(order="desc"),
            query(variables=["v"], device="d2"),
            query(variables=["w"]),
            query(tags={"rack": ['a"b']}),
            query(start=START + timedelta(seconds=5), end=START + timedelta(seconds=9)),
        ):
            assert laid_out_by_numpy(conn, mixed.id, q)
            served, reference = both(conn, mixed.id, q)
            assert served == reference, q


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 5, 64])
def test_pages_and_cursors_render_as_postgresql_does(settings, mixed, order, limit):
    with psycopg.connect(settings.database_url) as conn:
        q, pages = query(order=order, limit=limit), 0
        while True:
            served, reference = both(conn, mixed.id, q)
            assert served == reference
            pages += 1
            cursor = orjson.loads(served)["next_cursor"]
            if cursor is None:
                break
            q = replace(q, cursor=decode_cursor(cursor, order))
        assert pages == -(-3 * len(VALUES) // limit)


def test_numpy_lays_out_short_values_and_leaves_long_or_multibyte_ones_to_postgresql(settings):
    short, long, wide = (make_dataset(settings) for _ in range(3))
    store(settings, short.id, [("", "v", {}, START + timedelta(seconds=i), v) for i, v in enumerate(VALUES)])
    store(settings, long.id, [("", "v", {}, START, "x" * 23)])  # 25 bytes as JSON
    store(settings, wide.id, [("", "v", {}, START, "é")])
    with psycopg.connect(settings.database_url) as conn:
        assert laid_out_by_numpy(conn, short.id, query())
        assert not laid_out_by_numpy(conn, long.id, query())
        assert not laid_out_by_numpy(conn, wide.id, query())
        for dataset in (short, long, wide):
            served, reference = both(conn, dataset.id, query())
            assert served == reference
