"""What is waiting in the ingest queue: depth, age of the oldest job, failed jobs. Read by status and metrics.

"Queued jobs" counts RQ jobs and the intake's flushes alike (shared/intake.py): each is a batch waiting for a
worker, and the backlog limit counts them the same way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared.config import Settings
from shared.intake import decode_item, intake_key
from shared.queue import ingest_queue


@dataclass(frozen=True)
class QueueStats:
    queued_jobs: int  # RQ jobs plus intake flushes
    oldest_job_age_s: float  # 0 when both are empty
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
        pipe.llen(intake_key(settings))
        pipe.lindex(intake_key(settings), 0)  # the same for the intake
        depth, first, flushes, head = pipe.execute()
    oldest = []
    if first:
        enqueued = parse_rq_time(
            redis.hget(f"{queue.job_class.redis_job_namespace_prefix}{first.decode()}", "enqueued_at")
        )
        if enqueued is not None:
            oldest.append(enqueued.timestamp())
    if head:
        oldest += [m["received_at"] for m in decode_item(head)]
    age = max(0.0, time.time() - min(oldest)) if oldest else 0.0
    return QueueStats(
        int(depth) + int(flushes), age, len(StartedJobRegistry(queue=queue)), len(FailedJobRegistry(queue=queue))
    )
