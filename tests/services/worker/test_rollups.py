"""Rollups kept by the worker stay exact: late, resent and corrected readings, retention, dataset deletion."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from services.worker import packing, retention
from shared.datasets import delete_dataset, get_dataset
from shared.db import make_engine, make_session_factory, transaction
from tests.support.db import entry_count, reading_count
from tests.support.factories import make_dataset
from tests.support.rollups import assert_rollups_exact, day_writer, history, utc, write

START = utc(2026, 1, 31, 22, 10)


def connect(settings):
    return psycopg.connect(settings.database_url, autocommit=True)


def test_rollups_equal_the_raw_readings_after_late_resent_and_corrected_writes(settings):
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    readings = history(START, timedelta(hours=30), seed=11)
    rng = random.Random(5)
    rng.shuffle(readings)
    writer = day_writer(settings)
    try:
        batches = [readings[i : i + 400] for i in range(0, len(readings), 400)]
        for batch in batches:
            write(writer, dataset.id, batch)
        entries = entry_count(settings, dataset.id)
        assert entries == len(readings)
        for batch in batches[:3]:
            assert write(writer, dataset.id, batch).stored == 0
        corrected = [(v, t, rng.choice([-2.5, 3, 2**62 + 1, "broken", True])) for v, t, _ in rng.sample(readings, 250)]
        write(writer, dataset.id, corrected)
        # text becomes a number again, in a batch where a key also comes twice (the later row wins)
        again = [(v, t, 42) for v, t, value in corrected if isinstance(value, str)]
        write(writer, dataset.id, [*again, (again[0][0], again[0][1], 43)])
    finally:
        writer.close()
    assert entry_count(settings, dataset.id) == entries == reading_count(settings, dataset.id)
    with connect(settings) as conn:
        assert conn.execute(
            "select v_int from readings r join series s on s.id = r.series_id where s.variable = %s and r.time = %s",
            again[0][:2],
        ).fetchone() == (43,)
        assert_rollups_exact(conn)


def test_the_last_write_wins_and_a_resend_changes_nothing(settings):
    dataset = make_dataset(settings, variables=("t",))
    moment = utc(2026, 5, 1, 12, 0, 30)
    writer = day_writer(settings)

    def stored() -> tuple:
        with connect(settings) as conn:
            value = conn.execute("select v_num, v_int, v_str from readings order by time limit 1").fetchone()
            rollup = conn.execute("select n_num + n_int, sum_num, sum_int::bigint from rollup_1m").fetchall()
            return value, rollup

    try:
        assert write(writer, dataset.id, [("t", moment, 1)]).stored == 1
        assert write(writer, dataset.id, [("t", moment, 2.5)]).stored == 0  # a correction is not a new entry
        assert stored() == ((2.5, None, None), [(1, 2.5, None)])
        write(writer, dataset.id, [("t", moment, 2.5)])
        assert stored() == ((2.5, None, None), [(1, 2.5, None)])
        write(writer, dataset.id, [("t", moment, "n/a")])
        assert stored() == ((None, None, "n/a"), [])  # no numeric reading left in the bucket
        write(writer, dataset.id, [("t", moment, 7), ("t", moment + timedelta(seconds=1), 8)])
        assert stored() == ((None, 7, None), [(2, None, 15)])
    finally:
        writer.close()
    assert entry_count(settings, dataset.id) == 2


def test_concurrent_writers_of_the_same_keys_keep_rollups_exact(settings):
    dataset = make_dataset(settings, variables=("a", "b"))
    moments = [START + timedelta(seconds=13 * i) for i in range(600)]
    failures: list[BaseException] = []

    def run(seed: int) -> None:
        rng = random.Random(seed)
        writer = day_writer(settings)
        try:
            for _ in range(15):
                rows = [
                    (rng.choice("ab"), m, rng.choice([rng.randrange(100), rng.random(), "x"]))
                    for m in rng.sample(moments, 150)
                ]
                while True:
                    try:
                        write(writer, dataset.id, rows)
                        break
                    except psycopg.errors.DeadlockDetected:  # the worker retries such a batch (write_patiently)
                        continue
        except BaseException as error:  # reported to the test below
            failures.append(error)
        finally:
            writer.close()

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    with connect(settings) as conn:
        assert_rollups_exact(conn)
        assert entry_count(settings, dataset.id) == reading_count(settings, dataset.id)


def test_retention_drops_the_rollups_of_expired_readings_and_recomputes_the_cut_buckets(settings):
    dataset, other = make_dataset(settings, name="week"), make_dataset(settings, name="forever")
    now = datetime(2026, 6, 10, 12, 30, 20, tzinfo=UTC)
    cutoff = now - timedelta(days=7)
    moments = [cutoff + timedelta(seconds=s) for s in range(-7300, 200, 7)]
    writer = day_writer(settings)
    try:
        for made in (dataset, other):
            write(writer, made.id, [("temperature", m, i) for i, m in enumerate(moments)])
    finally:
        writer.close()
    with connect(settings) as conn:
        conn.execute("update datasets set retention_days = 7 where id = %s", (dataset.id,))
        deleted = retention.apply_retention(conn, now)
        assert deleted == {dataset.id: sum(1 for m in moments if m < cutoff)}
        assert_rollups_exact(conn)
        [(first,)] = conn.execute(
            "select min(first_time) from rollup_1m r join series s on s.id = r.series_id where s.dataset_id = %s",
            (dataset.id,),
        ).fetchall()
        assert first >= cutoff


@pytest.mark.parametrize("how", ["delete_dataset", "sql"])
def test_deleting_a_dataset_deletes_its_rollups(settings, how):
    dataset, other = make_dataset(settings, name="gone"), make_dataset(settings, name="stays")
    writer = day_writer(settings)
    try:
        for made in (dataset, other):
            write(writer, made.id, [("temperature", START + timedelta(minutes=m), m) for m in range(90)])
    finally:
        writer.close()
    if how == "delete_dataset":
        engine = make_engine(settings, pool_size=1, max_overflow=0)
        with transaction(make_session_factory(engine)) as session:
            delete_dataset(session, get_dataset(session, dataset.id))
        engine.dispose()
    else:
        with connect(settings) as conn:
            conn.execute("delete from datasets where id = %s", (dataset.id,))
    with connect(settings) as conn:
        left = conn.execute(
            "select distinct s.dataset_id from rollup_1h r join series s on s.id = r.series_id "
            "union select distinct s.dataset_id from rollup_1m r join series s on s.id = r.series_id"
        ).fetchall()
        assert left == [(other.id,)]
        assert conn.execute(
            "select count(*) from rollup_1m where series_id not in (select id from series)"
        ).fetchone() == (0,)


def test_corrections_of_packed_readings_keep_rollups_exact(settings):
    """The buckets of a corrected reading are recomputed from hot and packed readings alike."""
    dataset = make_dataset(settings, variables=("t",))
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    start = now - timedelta(days=9, hours=1)
    readings = [("t", start + timedelta(seconds=3 * i), i if i % 3 else i / 8) for i in range(4000)]
    writer = day_writer(settings)
    try:
        write(writer, dataset.id, readings)
        with connect(settings) as conn:
            assert packing.pack(conn, timedelta(days=2), now=now) > 0
            assert conn.execute("select count(*) from readings").fetchone()[0] < len(readings)
        # single corrections: only the packs they fall in come back hot, the rest of their hour stays packed
        for (variable, moment, _), value in zip([readings[1500], readings[3100]], [-1, "x"], strict=True):
            write(writer, dataset.id, [(variable, moment, value)])
    finally:
        writer.close()
    with connect(settings) as conn:
        assert_rollups_exact(conn)


def test_a_float_is_summed_as_the_decimal_it_prints_as_in_writes_and_recomputes_alike(settings):
    dataset = make_dataset(settings, variables=("f",))
    moment = utc(2026, 5, 1, 12, 0)
    # 17 and 16 significant digits: rounded to 15, as the plain cast does, they would count as 0.3 and 0.333333333333333
    values = [0.1 + 0.2, 1 / 3, 2.5]
    writer = day_writer(settings)
    try:
        write(writer, dataset.id, [("f", moment + timedelta(seconds=i), v) for i, v in enumerate(values)])
        exact = sum(Decimal(repr(v)) for v in values)
        with connect(settings) as conn:
            assert conn.execute("select sum_num from rollup_1m").fetchone() == (exact,)
            assert conn.execute("select sum_num from rollup_1h").fetchone() == (exact,)
        # a correction recomputes the bucket from the raw readings, with the same decimals
        write(writer, dataset.id, [("f", moment + timedelta(seconds=2), 1 / 7)])
        exact = sum(Decimal(repr(v)) for v in (*values[:2], 1 / 7))
        with connect(settings) as conn:
            assert conn.execute("select sum_num from rollup_1m").fetchone() == (exact,)
            assert conn.execute("select sum_num from rollup_1h").fetchone() == (exact,)
    finally:
        writer.close()
