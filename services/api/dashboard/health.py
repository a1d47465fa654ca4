"""Recent trouble per dataset for the overview's warning badges: rejected records and failed ingest jobs."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import RejectedRecord

log = logging.getLogger(__name__)

RECENT = timedelta(hours=24)
# The newest failed jobs looked at: enough to flag trouble, bounded so that a flood of failures stays cheap.
FAILED_JOBS_SCANNED = 500


def rejected_counts(session: Session, dataset_ids: Iterable[int], since: datetime) -> dict[int, int]:
    """Rejected records received since `since`, per dataset (datasets with none are left out)."""
    ids = list(dataset_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(RejectedRecord.dataset_id, func.count())
        .where(RejectedRecord.dataset_id.in_(ids), RejectedRecord.received_at >= since)
        .group_by(RejectedRecord.dataset_id))
    return {dataset_id: count for dataset_id, count in rows}


def failed_job_counts(redis: Redis, settings: Settings, dataset_ids: Iterable[int], since: datetime) -> Counter:
    """Ingest jobs that failed since `since` (after their retries), per dataset whose messages they carried.

    Read from RQ's FailedJobRegistry of the ingest queue, newest first. Redis being away is logged and counts as
    nothing known (the page still renders).
    """
    wanted = set(dataset_ids)
    counts: Counter = Counter()
    if not wanted:
        return counts
    registry = FailedJobRegistry(settings.queue_name, connection=redis, serializer=JSONSerializer)
    try:
        ids = registry.get_job_ids(0, FAILED_JOBS_SCANNED - 1, desc=True, cleanup=False)
        jobs = Job.fetch_many(ids, connection=redis, serializer=JSONSerializer) if ids else []
    except RedisError as error:
        log.warning("could not read failed jobs from Redis: %s", error)
        return counts
    cutoff = since.timestamp() if since.tzinfo else since.replace(tzinfo=UTC).timestamp()
    for job in jobs:
        if job is None or _failed_at(job) < cutoff:
            continue
        for dataset_id in _datasets_of(job) & wanted:
            counts[dataset_id] += 1
    return counts


def _failed_at(job: Job) -> float:
    ended = job.ended_at
    if ended is None:
        return time.time()  # failed so recently that RQ has not stamped it: recent
    return (ended if ended.tzinfo else ended.replace(tzinfo=UTC)).timestamp()


def _datasets_of(job: Job) -> set[int]:
    """The datasets an ingest job's messages belong to (none for jobs of another shape)."""
    try:
        messages = job.args[0] if job.args else []
    except DeserializationError:  # a job whose data cannot be decoded tells nothing about datasets
        return set()
    found = set()
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and isinstance(message.get("dataset_id"), int):
            found.add(message["dataset_id"])
    return found
