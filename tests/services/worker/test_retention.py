"""A dataset's retention period: worker maintenance deletes older readings, and only those, of that dataset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from redis import Redis
from rq.serializers import JSONSerializer

from services.worker.runner import IngestWorker
from shared.queue import ingest_queue
from tests.support.factories import make_dataset
from tests.support.worker import drain


def post(client, dataset, moments):
    body = {"readings": [{"time": m.isoformat(), "values": {"temperature": i}} for i, m in enumerate(moments)]}
    assert (
        client.post(
            f"/api/v1/datasets/{dataset.id}/readings", json=body, headers={"X-Write-Key": dataset.write_key}
        ).status_code
        == 202
    )


def test_maintenance_deletes_readings_past_the_retention_period(client, settings):
    kept_forever, limited = make_dataset(settings, name="forever"), make_dataset(settings, name="week")
    now = datetime.now(UTC)
    old, recent = [now - timedelta(days=10, minutes=i) for i in range(3)], [now - timedelta(days=1)]
    post(client, kept_forever, old + recent)
    post(client, limited, old + recent)
    drain(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("update datasets set retention_days = 7 where id = %s", (limited.id,))
        redis = Redis.from_url(settings.redis_url)
        IngestWorker(
            [ingest_queue(redis, settings)], connection=redis, serializer=JSONSerializer
        ).run_maintenance_tasks()
        counts = dict(
            conn.execute(
                "select s.dataset_id, count(*) from series s "
                "cross join lateral readings_in(array[s.id], '-infinity', 'infinity') r group by 1"
            ).fetchall()
        )
        entry_counts = dict(conn.execute("select id, entry_count from datasets").fetchall())
    assert counts == {kept_forever.id: 4, limited.id: 1}
    assert entry_counts == {kept_forever.id: 4, limited.id: 1}


def test_retention_longer_than_the_calendar_keeps_everything_and_maintenance_goes_on(client, settings):
    dataset = make_dataset(settings)
    post(client, dataset, [datetime.now(UTC) - timedelta(days=400)])
    drain(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("update datasets set retention_days = 1000000 where id = %s", (dataset.id,))
        redis = Redis.from_url(settings.redis_url)
        IngestWorker(
            [ingest_queue(redis, settings)], connection=redis, serializer=JSONSerializer
        ).run_maintenance_tasks()  # must not raise
        assert (
            conn.execute(
                "select count(*) from series s cross join lateral readings_in(array[s.id], '-infinity', 'infinity')"
            ).fetchone()[0]
            == 1
        )


def test_api_refuses_retention_beyond_a_century(client, settings):
    from tests.support.factories import make_token

    token = make_token(settings)
    response = client.post(
        "/api/v1/datasets",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "evil", "retention_days": 1_000_000},
    )
    assert response.status_code == 400 and "retention_days" in response.json()["detail"]
