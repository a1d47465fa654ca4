"""A worker killed in the middle of a batch (of one job or several): another stores it, exactly once, in seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import orjson
import psycopg
from redis import Redis
from rq.registry import FailedJobRegistry, StartedJobRegistry

from shared.queue import MAINTENANCE_LOCK_S, enqueue_messages, ingest_queue, make_message
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.processes import ROOT, ownstream_process

READINGS = 100
ENV = {"OWNSTREAM_WORKER_HEARTBEAT_TTL_S": "2", "OWNSTREAM_WORKER_MAINTENANCE_INTERVAL_S": "1"}


def test_batch_of_a_killed_worker_is_stored_once_by_another(client, settings):
    dataset = make_dataset(settings)
    body = {
        "readings": [
            {"time": f"2026-05-01T00:00:{i // 10:02d}.{i % 10}Z", "values": {"temperature": i}} for i in range(READINGS)
        ]
    }
    assert (
        client.post(
            f"/api/v1/datasets/{dataset.id}/readings", json=body, headers={"X-Write-Key": dataset.write_key}
        ).status_code
        == 202
    )

    kill_mid_batch(settings, dataset.id, ENV)
    with psycopg.connect(settings.database_url, autocommit=True) as probe, ownstream_process("worker", env=ENV):
        wait_for(
            lambda: stored(probe, dataset.id)[0] == READINGS, timeout=60, what="batch retried by the second worker"
        )
        assert stored(probe, dataset.id) == (READINGS, READINGS)


JOBS, PER_JOB = 6, 20


def test_worker_killed_holding_several_jobs_loses_none_and_stores_none_twice(settings):
    dataset = make_dataset(settings)
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    assert queue_jobs(queue, settings, dataset.id, JOBS, PER_JOB) == JOBS

    def held_by_the_worker() -> None:  # every job held by this one worker, in one transaction: each registered
        assert queue.count == 0
        assert len(StartedJobRegistry(queue=queue)) == JOBS

    kill_mid_batch(settings, dataset.id, ENV, held_by_the_worker)
    with psycopg.connect(settings.database_url, autocommit=True) as probe, ownstream_process("worker", env=ENV):
        wait_for(lambda: stored(probe, dataset.id)[0] == JOBS * PER_JOB, timeout=60, what="every held job retried")
        wait_for(
            lambda: len(StartedJobRegistry(queue=queue)) == 0 and queue.count == 0,
            timeout=30,
            what="the retried jobs finished",
        )
        assert stored(probe, dataset.id) == (JOBS * PER_JOB, JOBS * PER_JOB)
        assert len(FailedJobRegistry(queue=queue)) == 0


def queue_jobs(queue, settings, dataset_id: int, jobs: int, per_job: int) -> int:
    """Queue `jobs` jobs of one native message each, of `per_job` readings, every one at its own time."""
    messages = [
        make_message(
            "native",
            dataset_id,
            orjson.dumps(
                {
                    "readings": [
                        {"time": f"2026-05-01T00:{j:02d}:{r:02d}Z", "values": {"temperature": j * per_job + r}}
                        for r in range(per_job)
                    ]
                }
            ).decode(),
            source="http",
        )
        for j in range(jobs)
    ]
    return enqueue_messages(queue, settings.model_copy(update={"enqueue_max_batch": 1}), messages)


def stored(probe: psycopg.Connection, dataset_id: int) -> tuple[int, int]:
    """Readings stored, and the dataset's count of them."""
    return probe.execute(
        "select count(*), (select entry_count from datasets where id = %s) from readings", (dataset_id,)
    ).fetchone()


def kill_mid_batch(
    settings, dataset_id: int, env: dict[str, str], while_blocked: Callable[[], None] = lambda: None
) -> None:
    """Start a worker, let it stop half-way through its batch's transaction (the dataset's row is held), SIGKILL it:
    what it held is left registered as started, abandoned. `while_blocked` runs just before the kill."""
    with (
        psycopg.connect(settings.database_url) as blocker,
        psycopg.connect(settings.database_url, autocommit=True) as probe,
    ):
        blocker.execute("select 1 from datasets where id = %s for no key update", (dataset_id,))
        with ownstream_process("worker", env=env, stop_signal=signal.SIGKILL) as first:
            wait_for(
                lambda: probe.execute(
                    "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like 'update datasets%%'"
                ).fetchone(),
                timeout=30,
                what="worker blocked mid-batch",
            )
            while_blocked()
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        blocker.rollback()


# A worker that dies (as SIGKILL would: no `finally` runs) half-way through its registry clean-up.
DIES_WHILE_CLEANING = """
import os
from redis import Redis
from rq.intermediate_queue import IntermediateQueue
from services.worker.runner import IngestWorker
from shared.config import get_settings
from shared.queue import JobSerializer, ingest_queue

IntermediateQueue.cleanup = lambda self, worker, queue: os._exit(9)
settings = get_settings()
redis = Redis.from_url(settings.redis_url)
queue = ingest_queue(redis, settings)
IngestWorker([queue], connection=redis, serializer=JobSerializer, maintenance_interval=1).clean_registries()
"""


def test_a_worker_killed_while_cleaning_the_registries_holds_up_retries_for_seconds_only(settings):
    """RQ's registry clean-up lock lasts 15 minutes: a worker killed while holding it kept every other worker from
    retrying abandoned jobs (acknowledged readings) that long. Ours lasts seconds."""
    dataset = make_dataset(settings)
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    body = {"readings": [{"time": f"2026-05-01T00:00:{i:02d}Z", "values": {"temperature": i}} for i in range(10)]}
    enqueue_messages(queue, settings, [make_message("native", dataset.id, orjson.dumps(body).decode(), source="http")])
    kill_mid_batch(settings, dataset.id, ENV)
    assert len(StartedJobRegistry(queue=queue)) == 1

    died = subprocess.run([sys.executable, "-c", DIES_WHILE_CLEANING], cwd=ROOT, env=os.environ, check=False)
    assert died.returncode == 9
    assert 0 < redis.ttl(queue.registry_cleaning_key) <= MAINTENANCE_LOCK_S, "the lock is left behind, for seconds"

    with psycopg.connect(settings.database_url, autocommit=True) as probe, ownstream_process("worker", env=ENV):
        wait_for(
            lambda: probe.execute("select count(*) from readings").fetchone()[0] == 10,
            timeout=60,
            what="the abandoned job retried once the left lock expired",
        )


# A worker that dies (as SIGKILL would) while it gathers a batch: the jobs it took are off the queue, not started.
DIES_WHILE_GATHERING = """
import os
from services.worker.multijob import MultiJobWorker
from services.worker.runner import run_worker
from shared.config import get_settings

MultiJobWorker._batch_done_at = float("inf")  # as under a trickle of pushes: it lingers for more once the queue is dry
MultiJobWorker._linger = lambda self: os._exit(9)
run_worker(get_settings(), metrics_port=0)
"""


def test_jobs_of_a_worker_killed_while_gathering_its_batch_are_stored_within_seconds(settings):
    """Jobs taken off the queue into RQ's intermediate queue but not yet registered as started: RQ's clean-up put them
    back a minute after it first saw them there; ours after the heartbeat TTL, as for abandoned started jobs."""
    dataset = make_dataset(settings)
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    assert queue_jobs(queue, settings, dataset.id, jobs=2, per_job=1) == 2

    died = subprocess.run(
        [sys.executable, "-c", DIES_WHILE_GATHERING], cwd=ROOT, env={**os.environ, **ENV}, check=False
    )
    assert died.returncode == 9
    assert queue.count == 0 and redis.llen(queue.intermediate_queue_key) == 2
    assert len(StartedJobRegistry(queue=queue)) == 0, "taken, not started: no registration to expire"

    with psycopg.connect(settings.database_url, autocommit=True) as probe, ownstream_process("worker", env=ENV):
        wait_for(lambda: stored(probe, dataset.id) == (2, 2), timeout=40, what="the stuck jobs put back and stored")
        wait_for(lambda: redis.llen(queue.intermediate_queue_key) == 0, timeout=10, what="the intermediate queue empty")
    assert len(FailedJobRegistry(queue=queue)) == 0
