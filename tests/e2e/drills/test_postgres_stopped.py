"""Drill: PostgreSQL stopped for 30 s under HTTP and MQTT load, then started again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.drills.conftest import Drill, build
from tests.support.drills import Load, PrivatePostgres, check, migrated

pytestmark = [pytest.mark.e2e, pytest.mark.drill]
OUTAGE_S = 30


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.remove()


@pytest.fixture
def on_private_postgres(settings, tmp_path, postgres) -> Iterator[Drill]:
    migrated(settings, postgres.dsn())
    yield from build(settings, tmp_path, postgres.dsn(), server_logs=(postgres.directory / "pg.log",))


def test_postgres_stopped_for_30_s_loses_and_doubles_nothing(on_private_postgres, postgres):
    drill = on_private_postgres
    stack = drill.stack
    stack.start_ingest()
    stack.start_bridge()
    stack.start_worker(1, wait=True)
    with Load(stack.ingest_url, drill.dataset.id, drill.dataset.write_key, drill.token, drill.broker.port) as load:
        stack.wait(load.running(http=40, mqtt=80), "load running", load=load)
        postgres.stop("fast")
        time.sleep(OUTAGE_S)  # the fault itself: the database is away this long
        postgres.start()
        fault_ended = time.monotonic()
        time.sleep(2.0)
    check("PostgreSQL stopped 30 s", load, drill.database_url, drill.dataset.id, fault_ended, stack)
