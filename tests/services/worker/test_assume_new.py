"""Large batches are written as if their keys were new; a stored key undoes that statement and the batch is written
the usual way (services.worker.rollups.write_readings), with the same answers either way."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY

from services.worker import rollups, storage
from tests.support.db import entry_count, reading_count
from tests.support.factories import make_dataset
from tests.support.rollups import assert_rollups_exact, day_writer, history, utc, write

START = utc(2026, 3, 1, 10, 0)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """(assumed new, met a stored key) of each batch's write, in order."""
    calls: list[tuple[bool, bool]] = []
    original = rollups.write_readings

    def spy(cur, maintain_rollups, batch_rows, assume_new=False):
        per_dataset, met_stored = original(cur, maintain_rollups, batch_rows, assume_new)
        calls.append((assume_new, met_stored))
        return per_dataset, met_stored

    monkeypatch.setattr(rollups, "write_readings", spy)
    return calls


def readings(count: int, offset: int = 0) -> list[tuple]:
    """`count` readings of a float, an integer and a mixed variable, in time order from the `offset`-th on."""
    return sorted(history(START, timedelta(days=2), seed=4), key=lambda reading: reading[1])[offset : offset + count]


def batch_writes() -> dict[str, float]:
    """The worker's `ownstream_worker_batch_writes_total` by `how`, as this process counted them."""
    return {
        how: REGISTRY.get_sample_value("ownstream_worker_batch_writes_total", {"how": how}) or 0.0
        for how in ("as_new", "checked", "fell_back")
    }


def test_a_resent_large_batch_falls_back_stores_only_its_new_keys_and_keeps_rollups_exact(settings, statements):
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    first = readings(300)
    before = batch_writes()
    writer = day_writer(settings)
    try:
        assert write(writer, dataset.id, first).stored == 300
        resent = write(writer, dataset.id, [*first, *readings(20, offset=300)])
        write(writer, dataset.id, readings(300, offset=320))  # checked: the batch after a fallback
    finally:
        writer.close()
    assert statements == [(True, False), (True, True), (False, False)]
    after = batch_writes()
    assert {how: after[how] - before[how] for how in after} == {"as_new": 1, "checked": 1, "fell_back": 1}
    assert (resent.stored, resent.duplicates) == (20, 300)
    assert entry_count(settings, dataset.id) == reading_count(settings, dataset.id) == 620
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert_rollups_exact(conn)


def test_a_correction_in_a_large_batch_replaces_the_stored_value(settings, statements):
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    stored = readings(300)
    variable, moment, _ = stored[150]
    writer = day_writer(settings)
    try:
        write(writer, dataset.id, stored)
        corrected = write(writer, dataset.id, [*readings(250, offset=300), (variable, moment, -12345.5)])
    finally:
        writer.close()
    assert statements == [(True, False), (True, True)]
    assert corrected.stored == 250  # the correction is not a new entry
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert conn.execute(
            "select r.v_num from readings r join series s on s.id = r.series_id where s.variable = %s and r.time = %s",
            (variable, moment),
        ).fetchone() == (-12345.5,)
        assert_rollups_exact(conn)  # the bucket's min is the correction's value
    assert entry_count(settings, dataset.id) == reading_count(settings, dataset.id) == 550


def test_after_meeting_a_stored_key_a_writer_checks_its_next_batches_then_assumes_new_again(settings, statements):
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    size = storage.ASSUME_NEW_FROM_ROWS
    batches = [readings(size, offset=n * size) for n in range(storage.CAUTIOUS_BATCHES + 3)]
    writer = day_writer(settings)
    try:
        write(writer, dataset.id, batches[0])
        write(writer, dataset.id, batches[0])  # resent: falls back
        for batch in batches[1:]:
            write(writer, dataset.id, batch)
        write(writer, dataset.id, readings(size - 1, offset=len(batches) * size))  # too small to assume anything
    finally:
        writer.close()
    assert statements == [
        (True, False),
        (True, True),
        *[(False, False)] * storage.CAUTIOUS_BATCHES,
        (True, False),
        (True, False),
        (False, False),
    ]
    assert entry_count(settings, dataset.id) == reading_count(settings, dataset.id) == (len(batches) + 1) * size - 1


def wait_for_lock_wait(settings, timeout: float = 30) -> None:
    """Until some session of this database waits on a lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while not conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "no writer waited on the other's key"
            time.sleep(0.01)


@pytest.mark.parametrize("other_commits", [True, False])
def test_a_concurrent_writer_of_the_same_key_makes_a_batch_assumed_new_wait_then_fall_back(
    settings, statements, other_commits
):
    dataset = make_dataset(settings, variables=("float", "int", "mixed"))
    batch = readings(300)
    contested = next(n for n in range(100, 300) if batch[n][0] == "float")
    variable, moment, value = batch[contested]
    writer = day_writer(settings)
    try:
        # an hour earlier: the series and the day's partition exist, so the other session can write a key of one
        write(writer, dataset.id, [(v, START - timedelta(hours=1), 0) for v in ("float", "int", "mixed")])
        statements.clear()
        results = []
        with psycopg.connect(settings.database_url) as other:
            other.execute(
                "insert into readings (series_id, time, v_num) "
                "select id, %s, 1.5 from series where dataset_id = %s and variable = %s",
                (moment, dataset.id, variable),
            )
            thread = threading.Thread(target=lambda: results.append(write(writer, dataset.id, batch)))
            thread.start()
            wait_for_lock_wait(settings)  # the batch's insert waits for the other session's uncommitted key
            if other_commits:
                other.commit()
            else:
                other.rollback()
            thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        writer.close()
    assert statements == [(True, other_commits)]
    assert results[0].stored == (299 if other_commits else 300)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert conn.execute("select count(*) from readings").fetchone() == (303,)
        # the batch's value is stored (when the other session committed first, it wins over that one's and its
        # bucket is recomputed)
        assert conn.execute(
            "select r.v_num from readings r join series s on s.id = r.series_id where s.variable = %s and r.time = %s",
            (variable, moment),
        ).fetchone() == (value,)
        assert_rollups_exact(conn)
