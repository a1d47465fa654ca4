"""Two `ownstream worker` processes drain one queue together; every reading is stored exactly once."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import orjson
from redis import Redis
from rq import Worker

from shared.queue import enqueue_messages, ingest_queue, make_message
from tests.support.db import entry_count, reading_count, scalar
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.processes import ownstream_process

MESSAGES, PER_MESSAGE = 200, 50
TOTAL = MESSAGES * PER_MESSAGE
START = datetime(2026, 1, 1, tzinfo=UTC)


def native_messages(dataset_id: int) -> list:
    messages = []
    for m in range(MESSAGES):
        readings = []
        for r in range(PER_MESSAGE):
            n = m * PER_MESSAGE + r
            readings.append(
                {
                    "time": (START + timedelta(seconds=n)).isoformat(),
                    "device": f"d{n % 7}",
                    "values": {"temperature": n},
                }
            )
        body = orjson.dumps({"readings": readings}).decode()
        messages.append(make_message("native", dataset_id, body, source="http"))
    return messages


def test_two_workers_store_every_reading_exactly_once(settings):
    dataset = make_dataset(settings)
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    names = [f"{settings.queue_name}-w{i}" for i in (1, 2)]
    with ExitStack() as stack:
        workers = [stack.enter_context(ownstream_process("worker", "--name", name)) for name in names]
        wait_for(lambda: len(Worker.all(queue=queue)) == 2, timeout=60, what="both workers registered")

        small_jobs = settings.model_copy(update={"enqueue_max_batch": 4})  # 50 jobs to share out
        assert enqueue_messages(queue, small_jobs, native_messages(dataset.id)) == MESSAGES // 4

        wait_for(
            lambda: reading_count(settings, dataset.id) >= TOTAL,
            timeout=60,
            interval=0.1,
            what=f"{TOTAL} readings stored",
        )

        def jobs_per_worker() -> dict[str, int]:
            return {w.name: w.successful_job_count for w in Worker.all(queue=queue)}

        wait_for(lambda: sum(jobs_per_worker().values()) == MESSAGES // 4, timeout=10, what="job counts")
        done = jobs_per_worker()
        assert set(done) == set(names)
        assert all(count > 0 for count in done.values()), f"one worker took every job: {done}"

        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            assert process.wait(timeout=30) == 0
    assert queue.count == 0
    assert Worker.all(queue=queue) == []
    assert reading_count(settings, dataset.id) == TOTAL
    assert entry_count(settings, dataset.id) == TOTAL
    total, distinct, low, high = (
        scalar(settings, f"select {what} from readings")
        for what in ("sum(v_int)", "count(distinct time)", "min(time)", "max(time)")
    )
    assert total == TOTAL * (TOTAL - 1) // 2 and distinct == TOTAL
    assert (low, high) == (START, START + timedelta(seconds=TOTAL - 1))
