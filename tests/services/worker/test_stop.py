"""A stop request (SIGTERM) stops a worker at once, wherever between batches it lands."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import orjson
import pytest
from redis import Redis
from rq.worker import WorkerStatus

from services.worker.multijob import MultiJobWorker
from services.worker.runner import IngestWorker
from shared.queue import JobSerializer, enqueue_messages, ingest_queue, make_message
from tests.support.db import reading_count
from tests.support.factories import make_dataset

IDLE_LIMIT_S = 20  # how long the worker below waits on an empty queue before it gives up by itself


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """RQ's worker installs its SIGINT and SIGTERM handlers in the process it runs in: this test's."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def work_until_stopped(queue, settings) -> tuple[IngestWorker, float]:
    """Run an ingest worker in this process until it stops (by itself after IDLE_LIMIT_S on an empty queue); returns
    it and how long it ran."""
    worker = IngestWorker([queue], connection=queue.connection, serializer=JobSerializer, worker_ttl=25)
    worker.settings = settings
    started = time.monotonic()
    worker.work(logging_level="WARNING", max_idle_time=IDLE_LIMIT_S)
    return worker, time.monotonic() - started


def test_a_stop_request_while_the_worker_collects_after_a_batch_stops_it_at_once(
    settings, monkeypatch, own_signal_handlers
):
    """RQ defers a stop request that comes while its worker is busy, and checks for it once, before the next dequeue.
    This worker is still busy from its batch while it collects the intake at the start of that dequeue: a request
    that came then went unseen, and the worker waited on the queue until stopped again (CI saw it hang past 30 s)."""
    dataset = make_dataset(settings, variables=("temperature",))
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    body = orjson.dumps({"readings": [{"time": "2026-05-01T00:00:00Z", "values": {"temperature": 1}}]}).decode()
    enqueue_messages(queue, settings, [make_message("native", dataset.id, body, source="http")])

    requested_while = []
    collect = MultiJobWorker.collect

    def collect_then_sigterm(worker: MultiJobWorker) -> int:
        collected = collect(worker)
        if worker._batch_done_at > float("-inf") and not requested_while:  # the first collect after the batch
            requested_while.append(worker.get_state())
            worker.request_stop(signal.SIGTERM, None)  # what the SIGTERM handler does
        return collected

    monkeypatch.setattr(MultiJobWorker, "collect", collect_then_sigterm)
    worker, took = work_until_stopped(queue, settings)

    assert requested_while == [WorkerStatus.BUSY]
    assert worker.stopped_on_request
    assert took < IDLE_LIMIT_S / 2, f"the worker went on waiting on the queue for {took:.1f} s"
    assert reading_count(settings, dataset.id) == 1


def test_a_stop_request_while_the_worker_gathers_a_batch_waits_for_the_batch(
    settings, monkeypatch, own_signal_handlers
):
    """A worker that has taken jobs off the queue and gathers more (here: lingering for them) stores what it took
    before it stops, as RQ's worker finishes its job; it used to stop there and leave the jobs for RQ's clean-up of
    the intermediate queue, a minute or more later."""
    dataset = make_dataset(settings, variables=("temperature",))
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    bodies = [
        orjson.dumps({"readings": [{"time": f"2026-05-01T00:00:0{i}Z", "values": {"temperature": i}}]}).decode()
        for i in range(2)
    ]
    one_per_job = settings.model_copy(update={"enqueue_max_batch": 1})
    enqueue_messages(queue, one_per_job, [make_message("native", dataset.id, b, source="http") for b in bodies])

    lingered = []

    def linger_then_sigterm(worker: MultiJobWorker) -> None:
        lingered.append(worker.get_state())
        worker.request_stop(signal.SIGTERM, None)  # what the SIGTERM handler does

    monkeypatch.setattr(MultiJobWorker, "_linger", linger_then_sigterm)
    monkeypatch.setattr(MultiJobWorker, "_batch_done_at", float("inf"))  # a trickle: the worker lingers for more
    worker, took = work_until_stopped(queue, settings)

    assert lingered == [WorkerStatus.BUSY]
    assert worker.stopped_on_request and took < IDLE_LIMIT_S / 2
    assert reading_count(settings, dataset.id) == 2
    assert redis.llen(queue.intermediate_queue_key) == 0 and queue.count == 0
