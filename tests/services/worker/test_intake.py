"""The intake (shared/intake.py): small flushes wait there and workers make many of them into one RQ job; a holding
list left by a collector that died goes back; an idle worker wakes for a push; big flushes skip it."""

from __future__ import annotations

import time

from redis import Redis
from rq import Worker
from rq.job import Job

from shared.config import Settings
from shared.intake import Collector, holdings_key, intake_key
from shared.queue import INGEST_JOB, ingest_queue
from tests.support.db import entry_count, queued_jobs, queued_messages, reading_count
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.processes import ownstream_process
from tests.support.worker import drain


def redis_of(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def push(client, dataset, n: int) -> int:
    response = client.get("/update", params={"api_key": dataset.write_key, "field1": str(n)})
    assert response.status_code == 200, response.text
    return int(response.text)


def test_single_pushes_wait_in_the_intake_and_become_one_job_with_their_entry_ids(client, settings):
    dataset = make_dataset(settings, variables=("field1", "status"))
    redis = redis_of(settings)
    queue = ingest_queue(redis, settings)
    answered = [push(client, dataset, n) for n in range(30)]
    assert answered == list(range(1, 31))
    assert redis.llen(intake_key(settings)) == 30 and queue.count == 0  # one item per flush, no RQ job yet
    assert queued_jobs(settings) == 30  # what the backlog limit and `ownstream status` count

    assert Collector(redis, queue, settings, "test").collect() == 30
    (job_id,) = queue.get_job_ids()  # thirty flushes, one job
    job = Job.fetch(job_id, connection=redis, serializer=queue.serializer)
    assert job.func_name == INGEST_JOB and len(job.args[0]) == 30
    assert [m["params"]["entry_id"] for m in job.args[0]] == answered  # the ids the devices were answered
    assert redis.llen(intake_key(settings)) == 0 and not redis.exists(f"{holdings_key(settings)}:test")

    drain(settings)
    assert reading_count(settings, dataset.id) == 30 and entry_count(settings, dataset.id) == 30


def test_a_collector_makes_jobs_of_at_most_enqueue_max_batch_messages(client, settings):
    dataset = make_dataset(settings, variables=("field1", "status"))
    redis = redis_of(settings)
    for n in range(7):
        push(client, dataset, n)
    small = settings.model_copy(update={"enqueue_max_batch": 3})
    queue = ingest_queue(redis, small)
    assert Collector(redis, queue, small, "test").collect() == 7
    jobs = [Job.fetch(i, connection=redis, serializer=queue.serializer) for i in queue.get_job_ids()]
    assert [len(job.args[0]) for job in jobs] == [3, 3, 1]


def test_a_holding_list_left_behind_goes_back_to_the_intake_once_its_lease_passed_and_is_stored_once(client, settings):
    dataset = make_dataset(settings, variables=("field1", "status"))
    redis = redis_of(settings)
    queue = ingest_queue(redis, settings)
    for n in range(3):
        push(client, dataset, n)
    dead = Collector(redis, queue, settings, "dead")
    held = dead.take()  # ... and the worker is killed before it queues them
    assert len(held) == 3 and redis.llen(intake_key(settings)) == 0
    push(client, dataset, 3)  # a newer flush arrives meanwhile

    other = Collector(redis, queue, settings, "other")
    assert other.recover() == 0, "the lease has not passed: the items stay held"
    redis.zadd(holdings_key(settings), {dead.holding: time.time() - 1})  # as if its minute had passed
    assert other.recover() == 3
    assert [m["params"]["entry_id"] for m in queued_messages(settings)] == [1, 2, 3, 4]  # back at the head, in order

    assert dead.queue_held(held) == 0, "a collector that outlived its lease queues nothing"
    assert queue.count == 0
    assert other.collect() == 4
    drain(settings)
    assert reading_count(settings, dataset.id) == 4 and entry_count(settings, dataset.id) == 4


def test_a_big_flush_is_queued_as_a_job_directly(client, settings):
    dataset = make_dataset(settings, variables=("field1", "status"))
    updates = [{"created_at": 1779717720 + i, "field1": i, "status": "x" * 40} for i in range(400)]
    body = {"write_api_key": dataset.write_key, "updates": updates}
    response = client.post(f"/channels/{dataset.id}/bulk_update.json", json=body)
    assert response.status_code == 202, response.text
    redis = redis_of(settings)
    assert ingest_queue(redis, settings).count == 1 and redis.llen(intake_key(settings)) == 0
    drain(settings)
    assert reading_count(settings, dataset.id) == 800  # 400 entries of two values


def test_an_idle_worker_wakes_for_a_single_push(client, settings):
    dataset = make_dataset(settings, variables=("field1", "status"))
    redis = redis_of(settings)
    # Without the waker, an idle worker would look at the intake only when its wait on the RQ queue ends (every
    # worker_maintenance_interval_s, set long here).
    with ownstream_process("worker", env={"OWNSTREAM_WORKER_MAINTENANCE_INTERVAL_S": "120"}):
        wait_for(lambda: Worker.all(connection=redis), timeout=30, what="the worker registered")
        push(client, dataset, 0)  # may reach a worker that is still starting: it collects before waiting
        wait_for(lambda: reading_count(settings, dataset.id) == 1, timeout=20, what="the first push stored")
        wait_for(
            lambda: any(w.get_state() == "idle" for w in Worker.all(connection=redis)),
            timeout=10,
            what="the worker idle again",
        )
        push(client, dataset, 1)  # an idle worker's wait on the RQ queue lasts 120 s here
        wait_for(lambda: reading_count(settings, dataset.id) == 2, timeout=30, what="the second push stored")
