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
    """Readings `values` (ThingSpeak entries), one a minute, each with a device event at the same moment."""
    batch = Batch()
    for value in values:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=value)
        batch.add(dataset_id, "", "temperature", "{}", moment, value, entry_id=value)
        batch.event(dataset_id, "car", "event.test", moment, "", {"n": value})
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

    def events(key: str) -> list[int]:
        response = client.get(
            f"/api/v1/datasets/{dataset.id}/events", params={"key": key, "start": "2026-01-01T00:04:00Z"}
        )
        assert response.status_code == 200, response.text
        return [e["fields"]["n"] for e in response.json()["events"]]

    with TestClient(create_app(app_settings)) as client:
        assert wait_for(lambda: values(dataset.read_key) == [1, 2, 3], timeout=30, what="replica caught up")
        assert client.get("/readyz").json() == {"ready": True, "database": "ok", "read_database": "ok", "redis": "ok"}
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
            # every read of readings goes to the replica: ThingSpeak's reads, the chart, events
            last = client.get(f"/channels/{dataset.id}/fields/1/last.txt", params={"api_key": new_key})
            assert (last.status_code, last.text) == (200, "3")
            chart = client.get(
                f"/api/v1/datasets/{dataset.id}/chart",
                params={"key": new_key, "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
            )
            assert chart.status_code == 200, chart.text
            assert [v for line in chart.json()["lines"] for v in line["v"]] == [1, 2, 3]
            assert events(new_key) == []  # the event written with reading 4 is on the primary only
            conn.execute("select pg_wal_replay_resume()")
        assert wait_for(lambda: values(new_key) == [1, 2, 3, 4], timeout=30, what="replica resumed")
        assert events(new_key) == [4]
        assert client.get(f"/channels/{dataset.id}/fields/1/last.txt", params={"api_key": new_key}).text == "4"
