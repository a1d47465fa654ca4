"""Recent trouble per dataset for the overview's warning badges: rejected records and failed ingest jobs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.dead_letters import SCAN_LIMIT, failed_jobs
from shared.models import RejectedRecord

log = logging.getLogger(__name__)

RECENT = timedelta(hours=24)


def rejected_counts(session: Session, dataset_ids: Iterable[int], since: datetime) -> dict[int, int]:
    """Rejected records received since `since`, per dataset (datasets with none are left out)."""
    ids = list(dataset_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(RejectedRecord.dataset_id, func.count())
        .where(RejectedRecord.dataset_id.in_(ids), RejectedRecord.received_at >= since)
        .group_by(RejectedRecord.dataset_id)
    )
    return {dataset_id: count for dataset_id, count in rows}


def failed_job_counts(redis: Redis, settings: Settings, dataset_ids: Iterable[int], since: datetime) -> Counter:
    """Ingest jobs that failed since `since` (after their retries), per dataset whose messages they carried.

    Read from RQ's FailedJobRegistry (shared.dead_letters), newest first. Redis being away is logged and counts as
    nothing known: the page still renders.
    """
    wanted = set(dataset_ids)
    counts: Counter = Counter()
    if not wanted:
        return counts
    try:
        jobs = failed_jobs(redis, settings, SCAN_LIMIT)
    except RedisError as error:
        log.warning("could not read failed jobs from Redis: %s", error)
        return counts
    for job in jobs:
        if _aware(job.failed_at) < since:
            continue
        for dataset_id in set(job.datasets) & wanted:
            counts[dataset_id] += 1
    return counts


def _aware(moment: datetime | None) -> datetime:
    if moment is None:  # failed so recently that RQ has not stamped it: recent
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
