"""A dataset deleted while its messages wait in the queue: the worker's cached series ids store nothing."""

from __future__ import annotations

import threading

import orjson
import psycopg

from services.worker import tasks
from shared.datasets import delete_dataset, get_dataset
from shared.db import make_engine, make_session_factory, transaction
from shared.queue import make_message
from tests.support.factories import make_dataset
from tests.support.http import wait_for


def native(dataset_id: int, second: int, value: float) -> dict:
    body = {"readings": [{"time": f"2026-01-01T00:00:{second:02d}Z", "values": {"temperature": value}}]}
    return make_message("native", dataset_id, orjson.dumps(body).decode(), source="http")


def orphans(settings) -> int:
    """Readings whose series no longer exists: invisible to every query, never cleaned up."""
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select count(*) from readings r where not exists (select 1 from series s where s.id = r.series_id)"
        ).fetchone()[0]


def delete(settings, dataset_id: int) -> None:
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            delete_dataset(session, get_dataset(session, dataset_id))
    finally:
        engine.dispose()


def test_readings_of_a_deleted_dataset_are_not_stored_under_cached_series(settings):
    doomed, kept = make_dataset(settings, name="doomed"), make_dataset(settings, name="kept")
    first = tasks.ingest_batch([native(doomed.id, 1, 1.0), native(kept.id, 1, 1.0)])
    assert first["stored"] == 2  # the worker now caches both datasets' series ids
    delete(settings, doomed.id)
    later = tasks.ingest_batch([native(doomed.id, 2, 2.0), native(kept.id, 2, 2.0)])
    assert later["stored"] == 1 and later["unknown_dataset"] == 1
    assert orphans(settings) == 0
    again = tasks.ingest_batch([native(doomed.id, 3, 3.0)])  # the cache forgot the dataset's series
    assert again["stored"] == 0 and orphans(settings) == 0


def test_a_deletion_waits_for_a_write_under_way_and_removes_what_it_wrote(settings):
    dataset = make_dataset(settings)
    assert tasks.ingest_batch([native(dataset.id, 1, 1.0)])["stored"] == 1
    with psycopg.connect(settings.database_url, autocommit=True) as writer:
        with writer.transaction():  # a worker's write transaction holding the dataset's shared lock
            writer.execute("select pg_advisory_xact_lock_shared(73110011, %s)", (dataset.id,))
            deleting = threading.Thread(target=delete, args=(settings, dataset.id))
            deleting.start()
            wait_for(lambda: blocked_on_advisory_lock(settings), timeout=10, what="the deletion waiting")
            writer.execute(
                "insert into readings (series_id, time, v_num) select id, '2026-01-01T00:00:05Z', 5 "
                "from series where dataset_id = %s",
                (dataset.id,),
            )
        deleting.join(30)
    assert not deleting.is_alive()
    assert orphans(settings) == 0


def blocked_on_advisory_lock(settings) -> bool:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select exists (select 1 from pg_locks where locktype = 'advisory' and not granted "
            "and database = (select oid from pg_database where datname = current_database()))"
        ).fetchone()[0]
