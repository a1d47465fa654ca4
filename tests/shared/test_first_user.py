"""The first user of an install: created once, even when two setups race."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from shared.datasets import create_first_user, has_users
from shared.db import make_engine, make_session_factory, transaction
from shared.errors import Conflict
from tests.support.http import wait_for


def test_a_racing_second_setup_waits_and_is_refused(settings):
    engine = make_engine(settings, pool_size=3, max_overflow=0)
    factory = make_session_factory(engine)
    outcome: dict[str, object] = {}
    try:
        with transaction(factory) as first:
            create_first_user(first, "first", "long enough password")

            def second_setup() -> None:
                try:
                    with transaction(factory) as second:
                        create_first_user(second, "second", "long enough password")
                    outcome["second"] = "created"
                except Conflict:
                    outcome["second"] = "refused"

            racer = threading.Thread(target=second_setup)
            racer.start()
            # the second setup is blocked on the lock while the first one's transaction is open
            wait_for(lambda: _waiting_on_lock(factory), timeout=10, what="the second setup waiting on the lock")
            assert "second" not in outcome
        racer.join(timeout=10)
        assert outcome["second"] == "refused"
        with transaction(factory) as session:
            assert has_users(session)
            with pytest.raises(Conflict):
                create_first_user(session, "third", "long enough password")
    finally:
        engine.dispose()


def _waiting_on_lock(factory) -> bool:
    with transaction(factory) as session:
        return bool(
            session.scalar(
                text(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted "
                    "and database = (select oid from pg_database where datname = current_database())"
                )
            )
        )
