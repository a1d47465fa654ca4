"""Running queued jobs in tests: an in-process RQ worker in burst mode against the real Redis."""

from __future__ import annotations

from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from shared.config import Settings
from shared.intake import Collector
from shared.queue import ingest_queue


def drain(settings: Settings) -> int:
    """Run every queued job now (the intake's flushes made into jobs first, as a worker does); returns how many jobs
    ran. Fails the test if any job failed."""
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    Collector(redis, queue, settings, "tests-drain").collect_all()
    jobs = queue.count
    worker = SimpleWorker([queue], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True, logging_level="WARNING")
    failed = FailedJobRegistry(queue=queue)
    if len(failed):
        job = queue.fetch_job(failed.get_job_ids()[0])
        raise AssertionError(f"{len(failed)} job(s) failed: {job.exc_info if job else '?'}")
    return jobs
