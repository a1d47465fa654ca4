"""Registry operations below the API: concurrent registrations of one id end in one device and a 409."""

from __future__ import annotations

import threading

import psycopg
import pytest

from shared.datasets import get_dataset
from shared.db import make_engine, make_session_factory
from shared.devices import create_device, list_devices
from shared.errors import Conflict
from tests.support.factories import make_dataset
from tests.support.http import wait_for


def waiting_on_lock(settings) -> bool:
    with psycopg.connect(settings.database_url) as conn:
        return (
            conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
            ).fetchone()[0]
            > 0
        )


def test_a_concurrent_registration_of_the_same_id_is_a_conflict_not_a_crash(settings):
    dataset = make_dataset(settings)
    engine = make_engine(settings, pool_size=2, max_overflow=0)
    sessions = make_session_factory(engine)
    outcome: list[BaseException | None] = []
    try:
        with sessions() as first, first.begin():
            create_device(first, get_dataset(first, dataset.id).owner, dataset.id, "car1")  # flushed, not committed

            def second() -> None:
                try:
                    with sessions() as other, other.begin():
                        create_device(other, get_dataset(other, dataset.id).owner, dataset.id, "car1")
                    outcome.append(None)
                except Conflict as error:
                    outcome.append(error)

            thread = threading.Thread(target=second)
            thread.start()
            wait_for(lambda: waiting_on_lock(settings), what="second registration waiting on the unique index")
        thread.join(timeout=10)
        assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
        with sessions() as check:
            assert [d.device_id for d in list_devices(check, dataset_id=dataset.id)] == ["car1"]
    finally:
        engine.dispose()


def test_bad_device_ids_are_refused(settings):
    from shared.errors import BadRequest

    dataset = make_dataset(settings)
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with make_session_factory(engine)() as session:
            owner = get_dataset(session, dataset.id).owner
            for bad in ("", " car", "a/b", "x" * 201, "ünï"):
                with pytest.raises(BadRequest):
                    create_device(session, owner, dataset.id, bad)
    finally:
        engine.dispose()
