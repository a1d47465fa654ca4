"""Plain PostgreSQL: workers create the readings partitions for now and the configured periods ahead."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from redis import Redis
from rq.serializers import JSONSerializer

from services.worker import partitions
from services.worker.runner import IngestWorker
from shared.queue import ingest_queue


def existing(settings) -> set[str]:
    with psycopg.connect(settings.database_url) as conn:
        return partitions.existing_partitions(conn)


def test_worker_maintenance_creates_partitions_ahead(settings, monkeypatch):
    monkeypatch.setattr(settings, "partitions_ahead", 3)
    assert existing(settings) == set()
    redis = Redis.from_url(settings.redis_url)
    worker = IngestWorker([ingest_queue(redis, settings)], connection=redis, serializer=JSONSerializer)
    worker.run_maintenance_tasks()
    wanted = partitions.periods_ahead(datetime.now(UTC), settings.partition_interval, 3)
    assert existing(settings) == {partitions.partition_name(start, settings.partition_interval) for start in wanted}
    assert len(wanted) == 4


def test_periods_between_cover_a_span_across_years():
    first, last = datetime(2025, 11, 30, 23, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert partitions.periods_between(first, last, "month") == {
        datetime(2025, 11, 1, tzinfo=UTC),
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    }
    assert len(partitions.periods_between(first, first, "week")) == 1
