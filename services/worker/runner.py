"""The worker process: an RQ worker on the ingest queue that outlives Redis restarts."""

from __future__ import annotations

import logging
import time
from types import FrameType

import psycopg
from redis import Redis
from redis.exceptions import RedisError

from services.worker import tasks
from services.worker.multijob import MultiJobWorker
from shared.config import Settings
from shared.metrics import QueueCollector, serve_metrics
from shared.queue import IngestJob, JobSerializer, ingest_queue
from shared.redis_clients import redis_client

log = logging.getLogger(__name__)


class IngestWorker(MultiJobWorker):
    """The ingest queue's worker: several jobs per transaction (multijob), plus Ownstream's maintenance."""

    job_class = IngestJob  # the ingest queue's: a job saved again here (retried, failed) is written as queued
    stopped_on_request = False

    retention_interval_s = 300.0
    _retention_due = 0.0
    pack_interval_s = 3600.0
    _pack_due = 0.0

    def run_maintenance_tasks(self) -> None:
        """RQ's registry clean-up, plus ours: partitions ahead and, every few minutes, retention and packing."""
        super().run_maintenance_tasks()
        try:
            tasks.ensure_partitions()
            if time.monotonic() >= self._retention_due:
                self._retention_due = time.monotonic() + self.retention_interval_s
                tasks.apply_retention()
            if time.monotonic() >= self._pack_due:
                self._pack_due = time.monotonic() + self.pack_interval_s
                tasks.pack_readings()
        except psycopg.OperationalError as error:  # the next batch or maintenance run tries again
            log.warning("maintenance could not reach the database: %s", error)
        except Exception:  # maintenance must never stop a worker from storing what was acknowledged
            log.exception("maintenance failed; it runs again at the next interval")

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
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


def wait_for_redis(redis: Redis) -> None:
    """Block until Redis answers again (it restarts with its AOF: the queue is still there)."""
    delay = 0.5
    while True:
        try:
            redis.ping()
            return
        except RedisError as error:
            log.warning("Redis not reachable (%s); retrying in %.1fs", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5)


def run_worker(
    settings: Settings, *, burst: bool = False, name: str | None = None, metrics_port: int | None = None
) -> bool:
    """Work until stopped (or, with `burst`, until the queue is empty); False if the worker quit on an error.

    RQ's worker gives up when Redis goes away; this one waits for Redis and goes on working, under a fresh
    worker name (the old registration may still look alive until its TTL passes).
    """
    redis = redis_client(settings)
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        serve_metrics(settings.host, port, QueueCollector(redis, settings))
    wait_for_database(settings)
    lives = 0
    while True:
        worker = IngestWorker(
            [ingest_queue(redis, settings)],
            connection=redis,
            serializer=JobSerializer,
            name=f"{name}-{lives}" if name and lives else name,
            maintenance_interval=settings.worker_maintenance_interval_s,
            # An idle worker blocks on the queue for worker_ttl - 15 s and checks for maintenance only in
            # between; this keeps abandoned batches from waiting minutes for the next check.
            worker_ttl=settings.worker_maintenance_interval_s + 15,
        )
        worker.settings = settings
        worker.heartbeat_ttl_s = settings.worker_heartbeat_ttl_s
        worker.batch_jobs = settings.worker_batch_jobs
        worker.batch_messages = settings.worker_batch_messages
        worker.batch_bytes = settings.worker_batch_bytes
        worker.batch_linger_s = settings.worker_batch_linger_ms / 1000
        worker.retention_interval_s = settings.retention_interval_s
        worker.pack_interval_s = settings.pack_interval_s
        try:
            worker.work(burst=burst, logging_level="WARNING")
        except RedisError as error:
            if burst or worker.stopped_on_request:
                raise
            log.warning("lost Redis (%s); working again once it is back", error)
            wait_for_redis(redis)
            lives += 1
            continue
        # RQ's own return value only says whether any job ran: an idle worker stopped by SIGTERM is not a failure.
        return burst or worker.stopped_on_request
