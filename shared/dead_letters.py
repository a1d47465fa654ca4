"""Jobs past their retries (RQ's FailedJobRegistry): list, inspect, requeue, purge, count per dataset.

Requeuing is safe: a job carries the raw messages with their entry ids, and the worker's writes skip rows
already stored, so a job that had partly succeeded stores nothing twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared.config import Settings
from shared.queue import ingest_queue

SCAN_LIMIT = 1000  # the dashboard's per-dataset counts look at this many of the newest failed jobs


@dataclass(frozen=True)
class FailedJob:
    id: str
    enqueued_at: datetime | None
    failed_at: datetime | None
    messages: int
    datasets: list[int]
    formats: list[str]
    error: str  # the last line of the exception
    exc_info: str

    def summary(self) -> dict:
        return {
            "id": self.id,
            "enqueued_at": self.enqueued_at,
            "failed_at": self.failed_at,
            "messages": self.messages,
            "datasets": self.datasets,
            "formats": self.formats,
            "error": self.error,
        }


def registry(redis: Redis, settings: Settings) -> FailedJobRegistry:
    return FailedJobRegistry(queue=ingest_queue(redis, settings))


def _messages(job: Job) -> list[dict]:
    try:
        first = job.args[0] if job.args else []
    except Exception:  # undecodable arguments: shown as no messages rather than hiding the job
        return []
    return [m for m in first if isinstance(m, dict)] if isinstance(first, list) else []


def describe(job: Job) -> FailedJob:
    messages = _messages(job)
    exc = job.exc_info or ""
    last = next((line for line in reversed(exc.strip().splitlines()) if line.strip()), "")
    return FailedJob(
        id=job.id,
        enqueued_at=job.enqueued_at,
        failed_at=job.ended_at,
        messages=len(messages),
        datasets=sorted({m["dataset_id"] for m in messages if isinstance(m.get("dataset_id"), int)}),
        formats=sorted({str(m.get("format")) for m in messages}),
        error=last.strip(),
        exc_info=exc,
    )


def failed_jobs(redis: Redis, settings: Settings, limit: int | None = None) -> list[FailedJob]:
    """Failed jobs, newest first."""
    reg = registry(redis, settings)
    ids = list(reversed(reg.get_job_ids()))[:limit]
    jobs = Job.fetch_many(ids, connection=redis, serializer=reg.serializer)
    return [describe(job) for job in jobs if job is not None]


def failed_job(redis: Redis, settings: Settings, job_id: str) -> FailedJob | None:
    reg = registry(redis, settings)
    if job_id not in reg:
        return None
    job = Job.fetch_many([job_id], connection=redis, serializer=reg.serializer)[0]
    return describe(job) if job is not None else None


def requeue(redis: Redis, settings: Settings, job_ids: list[str]) -> list[str]:
    """Put failed jobs back on the queue (end of it); returns those requeued."""
    reg = registry(redis, settings)
    done = []
    for job_id in job_ids:
        if job_id in reg:
            reg.requeue(job_id)
            done.append(job_id)
    return done


def purge(redis: Redis, settings: Settings, job_ids: list[str]) -> list[str]:
    """Delete failed jobs for good; returns those deleted."""
    reg = registry(redis, settings)
    done = []
    for job_id in job_ids:
        if job_id in reg:
            reg.remove(job_id, delete_job=True)
            done.append(job_id)
    return done


def failed_by_dataset(redis: Redis, settings: Settings) -> Counter[int]:
    """How many of the newest failed jobs carry messages of each dataset."""
    counts: Counter[int] = Counter()
    for job in failed_jobs(redis, settings, SCAN_LIMIT):
        counts.update(job.datasets)
    return counts
