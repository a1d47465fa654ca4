"""Looking at what a test stored: row counts and queue depth, straight from PostgreSQL and Redis."""

from __future__ import annotations

import psycopg
from redis import Redis

from shared.config import Settings
from shared.intake import backlog, decode_item, intake_key
from shared.queue import QueueMessage, ingest_queue


def scalar(settings: Settings, query: str, params: tuple = ()) -> object:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def reading_count(settings: Settings, dataset_id: int | None = None) -> int:
    if dataset_id is None:
        return scalar(
            settings, "select (select count(*) from readings) + (select coalesce(sum(n), 0) from readings_packed)"
        )
    return scalar(  # hot and packed readings alike (worker maintenance packs days older than OWNSTREAM_PACK_AFTER_S)
        settings,
        "select count(*) from series s cross join lateral readings_in(array[s.id], '-infinity', 'infinity') r"
        " where s.dataset_id = %s",
        (dataset_id,),
    )


def entry_count(settings: Settings, dataset_id: int) -> int:
    return scalar(settings, "select entry_count from datasets where id = %s", (dataset_id,))


def queued_jobs(settings: Settings) -> int:
    """Batches waiting for a worker: RQ jobs plus the intake's flushes (shared/intake.py)."""
    return backlog(
        Redis.from_url(settings.redis_url), settings, ingest_queue(Redis.from_url(settings.redis_url), settings).key
    )


def queued_messages(settings: Settings) -> list[QueueMessage]:
    """Every message waiting for a worker, in the RQ jobs and in the intake, as a worker would get it."""
    redis = Redis.from_url(settings.redis_url)
    queued = [m for job in ingest_queue(redis, settings).get_jobs() for m in job.args[0]]
    return queued + [m for item in redis.lrange(intake_key(settings), 0, -1) for m in decode_item(item)]
