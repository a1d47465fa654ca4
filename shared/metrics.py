"""Prometheus metrics of every Ownstream process, and their exposition.

Counters live in prometheus_client's default registry. Under uvicorn with several processes, `ownstream serve`
sets PROMETHEUS_MULTIPROC_DIR before the processes start, so each writes its samples to files there and any
one of them answers /metrics for all (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.queue_stats import queue_stats

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# HTTP receivers
REQUESTS = Counter("ownstream_ingest_requests", "ingest requests by protocol and outcome", ["protocol", "outcome"])
BYTES_IN = Counter("ownstream_ingest_bytes", "request body bytes received by ingest", ["protocol"])

# workers: a worker stores one *batch* at a time, several queued RQ jobs in one transaction
JOBS = Counter("ownstream_worker_jobs", "queued jobs finished by workers, by outcome (done, error)", ["outcome"])
BATCH_JOBS = Histogram(
    "ownstream_worker_batch_jobs", "queued jobs per worker batch", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500)
)
JOB_MESSAGES = Histogram(
    "ownstream_worker_job_messages",
    "queued messages per worker batch",
    buckets=(1, 5, 20, 50, 100, 250, 500, 1000, 2000, 5000, 10_000),
)
JOB_ROWS = Histogram(
    "ownstream_worker_job_rows",
    "readings per worker batch",
    buckets=(1, 10, 100, 500, 1000, 5000, 10_000, 50_000, 100_000),
)
JOB_SECONDS = Histogram(
    "ownstream_worker_job_seconds",
    "time to normalize and write one worker batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_WRITES = Counter(
    "ownstream_worker_batch_writes",
    "worker batches written, by how: as_new (a large batch without ON CONFLICT's check), checked (with it), "
    "fell_back (written as new, met a stored key, undone and written checked)",
    ["how"],
)
READINGS = Counter(
    "ownstream_readings", "readings handled by workers by outcome (stored, duplicate, unknown_dataset)", ["outcome"]
)
PROTOCOL_READINGS = Counter(
    "ownstream_readings_by_protocol",
    "what workers made of the messages they stored, by protocol (wire format) and source (http, mqtt, cli): "
    "readings (accepted) and records set aside (rejected)",
    ["protocol", "source", "outcome"],
)
REJECTED = Counter("ownstream_rejected_records", "records set aside as rejected, by workers")


class QueueCollector:
    """Queue depth, oldest job age and failed jobs, read from Redis at scrape time."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ownstream_redis_up", "1 if Redis answered this scrape")
        try:
            stats = queue_stats(self.redis, self.settings)
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("ownstream_queue_jobs", "jobs waiting in the ingest queue", value=stats.queued_jobs)
        yield GaugeMetricFamily(
            "ownstream_queue_oldest_job_age_seconds", "age of the oldest waiting job", value=stats.oldest_job_age_s
        )
        yield GaugeMetricFamily("ownstream_queue_started_jobs", "jobs being worked on", value=stats.started_jobs)
        yield GaugeMetricFamily(
            "ownstream_queue_failed_jobs", "jobs past their retries (`ownstream failed`)", value=stats.failed_jobs
        )


class _Chain:
    def __init__(self, sources: Iterable) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def exposition(*extra: object) -> bytes:
    """This process's metrics (all processes' in multiprocess mode) plus `extra` collectors, as text."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(_Chain([registry, *extra]))
    return generate_latest(_Chain([REGISTRY, *extra]))


def prepare_multiprocess(processes: int) -> None:
    """Before starting several HTTP processes: give them a fresh shared folder for their samples."""
    if processes <= 1 or os.environ.get(MULTIPROC_ENV):
        return
    directory = tempfile.mkdtemp(prefix="ownstream-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    import atexit

    atexit.register(shutil.rmtree, directory, True)


def serve_metrics(host: str, port: int, *extra: object) -> None:
    """Expose this process's metrics (plus `extra`) on http://host:port/metrics, from a daemon thread."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Chain([REGISTRY, *extra]))
    _start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%s/metrics", host, port)
