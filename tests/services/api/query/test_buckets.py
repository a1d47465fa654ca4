"""Bucketed aggregation equals the same aggregation computed from raw readings, whatever rollups it reads."""

from __future__ import annotations

import math
import random
import sys
from datetime import timedelta

import psycopg
import pytest

from services.api.query.buckets import AGGS, _query, bucketed, spans
from tests.support.factories import make_dataset
from tests.support.rollups import assert_same, day_writer, history, raw_bucketed, utc, write

AGG_LIST = list(AGGS)
BUCKETS = [
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(weeks=1),
    timedelta(seconds=90),
    timedelta(minutes=150),
]
START = utc(2026, 1, 30, 21, 37, 12)  # three days across the January/February partitions (and daily ones)
SPAN = timedelta(days=3)


@pytest.fixture
def stored(settings):
    """Readings written late (shuffled batches), partly resent, and partly corrected with other values."""
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    readings = history(START, SPAN)
    rng = random.Random(3)
    shuffled = readings[:]
    rng.shuffle(shuffled)
    batches = [shuffled[i : i + 700] for i in range(0, len(shuffled), 700)]
    writer = day_writer(settings)
    try:
        for batch in batches:
            write(writer, dataset.id, batch)
        for batch in rng.sample(batches, 3):  # resent: nothing new
            assert write(writer, dataset.id, batch).stored == 0
        corrections = [
            (variable, moment, rng.choice([1.5, 7, 2**60 + 3, "off", False]))
            for variable, moment, _ in rng.sample(readings, 300)
        ]
        write(writer, dataset.id, corrections)
        write(writer, dataset.id, corrections[:50])  # the corrections resent
    finally:
        writer.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        ids = [i for (i,) in conn.execute("select id from series where dataset_id = %s order by id", (dataset.id,))]
        assert conn.execute("select count(*) from rollup_1h").fetchone()[0] > 0
        yield conn, ids


@pytest.mark.parametrize("bucket", BUCKETS, ids=str)
@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
def test_every_aggregate_equals_the_raw_computation(stored, bucket, aligned):
    conn, ids = stored
    if aligned:
        start, end = utc(2026, 1, 29), utc(2026, 2, 5)
    else:
        start = START + timedelta(minutes=17, seconds=23, milliseconds=400)
        end = start + timedelta(days=2, hours=5, minutes=3, seconds=7, milliseconds=900)
    with conn.cursor() as cur:
        got = bucketed(cur, ids, start, end, bucket, AGG_LIST)
        expected = raw_bucketed(cur, ids, start, end, bucket, AGG_LIST)
    assert len(expected) >= len(ids)
    assert_same(got, expected, AGG_LIST)


def test_aggregates_come_in_the_order_asked(stored):
    conn, ids = stored
    aggs = ["last", "count", "first", "min"]
    with conn.cursor() as cur:
        got = bucketed(cur, ids[1:2], START, START + timedelta(hours=5), timedelta(minutes=15), aggs)
        expected = raw_bucketed(cur, ids[1:2], START, START + timedelta(hours=5), timedelta(minutes=15), aggs)
    assert_same(got, expected, aggs)
    assert got and {type(row[3]) for row in got} == {int}  # counts


def test_a_subset_of_aggregates_equals_the_raw_computation(stored):
    """Only the state columns the asked aggregates read are computed; the answers stay those of raw readings."""
    conn, ids = stored
    start = START + timedelta(minutes=17, seconds=23, milliseconds=400)
    end = start + timedelta(days=2, hours=5, minutes=3, seconds=7, milliseconds=900)
    for aggs in [[agg] for agg in AGGS] + [["min", "max", "avg"], ["last", "sum"]]:
        for bucket in (timedelta(minutes=15), timedelta(minutes=150)):
            with conn.cursor() as cur:
                got = bucketed(cur, ids, start, end, bucket, aggs)
                expected = raw_bucketed(cur, ids, start, end, bucket, aggs)
            assert len(expected) >= len(ids)
            assert_same(got, expected, aggs)


def test_the_charts_aggregates_skip_the_ordered_first_and_last():
    """A chart asks min, max and avg: no per-bucket sort for first and last values (a year's zoom paid for it)."""
    start, end = utc(2026, 1, 1, 10, 59, 30), utc(2026, 1, 19, 14, 2, 15)
    chart, _ = _query(spans(start, end, timedelta(minutes=30)), ["min", "max", "avg"])
    every, _ = _query(spans(start, end, timedelta(minutes=30)))
    assert "array_agg" not in chart and "min(first_time)" not in chart and "min(min_num)" in chart
    assert "array_agg" in every and "min(first_time)" in every


def test_integers_above_2_to_the_53_stay_exact(settings):
    dataset = make_dataset(settings, variables=("big",))
    big = 2**53 + 1
    writer = day_writer(settings)
    try:
        write(writer, dataset.id, [("big", utc(2026, 3, 1, 0, 0, s), big + s) for s in range(3)])
    finally:
        writer.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.cursor() as cur:
        [(series_id,)] = cur.execute("select id from series where dataset_id = %s", (dataset.id,)).fetchall()
        [row] = bucketed(
            cur,
            [series_id],
            utc(2026, 3, 1),
            utc(2026, 3, 2),
            timedelta(hours=1),
            ["sum", "min", "max", "first", "last", "count"],
        )
    assert row[2:] == (3 * big + 3, big, big + 2, big, big + 2, 3)


def test_rollups_answer_the_aligned_middle_and_raw_readings_the_edges():
    start, end = utc(2026, 1, 1, 10, 59, 30), utc(2026, 1, 1, 14, 2, 15)
    assert spans(start, end, timedelta(hours=2)) == [
        (None, start, utc(2026, 1, 1, 11, 0)),
        ("rollup_1h", utc(2026, 1, 1, 11), utc(2026, 1, 1, 14)),
        ("rollup_1m", utc(2026, 1, 1, 14), utc(2026, 1, 1, 14, 2)),
        (None, utc(2026, 1, 1, 14, 2), end),
    ]
    assert spans(start, end, timedelta(minutes=15)) == [
        (None, start, utc(2026, 1, 1, 11, 0)),
        ("rollup_1m", utc(2026, 1, 1, 11), utc(2026, 1, 1, 14, 2)),
        (None, utc(2026, 1, 1, 14, 2), end),
    ]
    assert spans(start, end, timedelta(seconds=90)) == [(None, start, end)]


def test_bucketed_reads_the_rollup_tables(stored):
    conn, ids = stored
    start, end = utc(2026, 1, 31), utc(2026, 2, 1)
    with conn.cursor() as cur:
        before = bucketed(cur, ids, start, end, timedelta(hours=1), ["count"])
        cur.execute("update rollup_1h set n_num = n_num + 1000 where bucket >= %s and bucket < %s", (start, end))
        after = bucketed(cur, ids, start, end, timedelta(hours=1), ["count"])
    assert [row[2] + 1000 for row in before if row[0] != ids[1]] == [row[2] for row in after if row[0] != ids[1]]


def test_sums_beyond_double_precision_neither_fail_the_write_nor_the_query(settings):
    dataset = make_dataset(settings, variables=("huge",))
    writer = day_writer(settings)
    try:
        values = [1e308, 1e308, -1.0]
        result = write(writer, dataset.id, [("huge", utc(2026, 3, 1, 0, 0, s), v) for s, v in enumerate(values)])
        assert result.stored == 3
    finally:
        writer.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.cursor() as cur:
        [(series_id,)] = cur.execute("select id from series where dataset_id = %s", (dataset.id,)).fetchall()
        [row] = bucketed(
            cur, [series_id], utc(2026, 3, 1), utc(2026, 3, 2), timedelta(days=1), ["sum", "avg", "max", "min", "count"]
        )
    assert row[2] == sys.float_info.max  # the sum is capped at the largest double
    assert math.isclose(row[3], 1e308 / 3 * 2, rel_tol=1e-12)  # float average: math.isclose, see assert_same
    assert row[4:] == (1e308, -1.0, 3)
