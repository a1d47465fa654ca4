"""What is waiting in the ingest queue: depth, age of the oldest job, failed jobs. Read by status and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared.config import Settings
from shared.queue import ingest_queue


@dataclass(frozen=True)
class QueueStats:
    queued_jobs: int
    oldest_job_age_s: float  # 0 when the queue is empty
    started_jobs: int
    failed_jobs: int


def parse_rq_time(value: bytes | str | None) -> datetime | None:
    """An RQ timestamp (`2026-01-01T00:00:00.000000Z`) as an aware datetime."""
    if not value:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def queue_stats(redis: Redis, settings: Settings) -> QueueStats:
    """One look at the queue; raises RedisError when Redis is away."""
    queue = ingest_queue(redis, settings)
    with redis.pipeline(transaction=False) as pipe:
        pipe.llen(queue.key)
        pipe.lindex(queue.key, 0)  # RQ appends with RPUSH and takes from the left: the oldest is first
        depth, first = pipe.execute()
    age = 0.0
    if first:
        enqueued = parse_rq_time(
            redis.hget(f"{queue.job_class.redis_job_namespace_prefix}{first.decode()}", "enqueued_at")
        )
        if enqueued is not None:
            age = max(0.0, time.time() - enqueued.timestamp())
    return QueueStats(int(depth), age, len(StartedJobRegistry(queue=queue)), len(FailedJobRegistry(queue=queue)))
