"""The worker process: an RQ worker on the ingest queue, plus queue status for `ownstream status`."""

from __future__ import annotations

import logging
import time

import psycopg
from redis import Redis
from rq import SimpleWorker, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from services.worker import tasks
from shared.config import Settings
from shared.queue import ingest_queue

log = logging.getLogger(__name__)

# Abandoned jobs (a worker killed mid-batch) are found by the maintenance task; run it often.
MAINTENANCE_INTERVAL_S = 15
JOB_MONITORING_INTERVAL_S = 5


class IngestWorker(SimpleWorker):
    """Runs jobs in this process (no fork per job), so the database connection and caches stay warm."""

    stopped_on_request = False

    def request_stop(self, signum, frame) -> None:
        self.stopped_on_request = True
        super().request_stop(signum, frame)


def wait_for_database(settings: Settings, timeout_s: float | None = None) -> None:
    """Create the partitions needed now, retrying while the database is unreachable."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            tasks.writer().ensure_partitions()
            return
        except psycopg.OperationalError as error:
            if deadline is not None and time.monotonic() > deadline:
                raise
            log.warning("database not reachable (%s); retrying in %.1fs", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10)


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Work until stopped (or, with `burst`, until the queue is empty); False if the worker quit on an error."""
    redis = Redis.from_url(settings.redis_url)
    wait_for_database(settings)
    worker = IngestWorker(
        [ingest_queue(redis, settings)],
        connection=redis,
        serializer=JSONSerializer,
        name=name,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        job_monitoring_interval=JOB_MONITORING_INTERVAL_S,
    )
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    # RQ's own return value only says whether any job ran: an idle worker stopped by SIGTERM is not a failure.
    return burst or worker.stopped_on_request


def queue_status(redis: Redis, settings: Settings) -> dict[str, int]:
    queue = ingest_queue(redis, settings)
    return {
        "queued_jobs": queue.count,
        "workers": len(Worker.all(queue=queue)),
        "started_jobs": len(StartedJobRegistry(queue=queue)),
        "scheduled_retries": len(ScheduledJobRegistry(queue=queue)),
        "failed_jobs": len(FailedJobRegistry(queue=queue)),
    }
