"""The API reads readings from a streaming replica (OWNSTREAM_READ_DATABASE_URL); keys stay on the primary."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.combined import create_app
from services.worker.normalize.rows import Batch
from services.worker.storage import Writer
from shared.config import Settings
from shared.datasets import get_dataset, regenerate_key
from shared.db import make_engine, make_session_factory, transaction
from shared.migrate import upgrade
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.postgres import PrivateServer, start_primary, start_replica


@pytest.fixture
def servers(settings) -> Iterator[tuple[PrivateServer, PrivateServer]]:
    primary = start_primary()
    replica = None
    try:
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            conn.execute("create database ownstream")
        replica = start_replica(primary)
        yield primary, replica
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def write(settings: Settings, dataset_id: int, values: list[int]) -> None:
    batch = Batch()
    for value in values:
        batch.add(
            dataset_id, "", "temperature", "{}", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=value), value
        )
    writer = Writer(settings)
    try:
        writer.write(batch)
    finally:
        writer.close()


def test_api_reads_from_the_replica_and_checks_keys_on_the_primary(servers, settings):
    primary, replica = servers
    on_primary = settings.model_copy(update={"database_url": primary.url("ownstream"), "timescaledb": "off"})
    upgrade(on_primary)
    dataset = make_dataset(on_primary, variables=("temperature",))
    write(on_primary, dataset.id, [1, 2, 3])
    app_settings = on_primary.model_copy(update={"read_database_url": replica.url("ownstream")})

    def values(key: str) -> list[int] | None:
        response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": key})
        return [r["value"] for r in response.json()["rows"]] if response.status_code == 200 else None

    with TestClient(create_app(app_settings)) as client:
        assert wait_for(lambda: values(dataset.read_key) == [1, 2, 3], timeout=30, what="replica caught up")
        with psycopg.connect(replica.url("ownstream"), autocommit=True) as conn:
            conn.execute("select pg_wal_replay_pause()")
            write(on_primary, dataset.id, [4])
            engine = make_engine(on_primary, pool_size=1, max_overflow=0)
            with transaction(make_session_factory(engine)) as session:
                new_key = regenerate_key(session, get_dataset(session, dataset.id), "read")
            engine.dispose()
            # the replica is paused: the new key is known only to the primary, the new reading only to it too
            assert values(new_key) == [1, 2, 3]
            assert values(dataset.read_key) is None  # revoked on the primary: refused at once
            csv = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": new_key, "format": "csv"})
            assert csv.status_code == 200 and csv.text.count("\n") == 4
            conn.execute("select pg_wal_replay_resume()")
        assert wait_for(lambda: values(new_key) == [1, 2, 3, 4], timeout=30, what="replica resumed")
