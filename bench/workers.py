"""Committed values/s with 1, 2 and 4 workers draining the same pre-filled queue: where the bottleneck moves.

The queue is filled first (no receiver in the timing) with flushes shaped like the single-push path's: `--per-job`
one-reading messages each, as an HTTP process flushes them under load. `--path intake` (the default) puts them in
the intake, as receivers now do with small flushes (shared/intake.py), and the workers make them into jobs;
`--path jobs` queues each as an RQ job, as receivers did before. Then the workers start and the figure is values
committed per second until the last one.
Run: `uv run python -m bench.workers --workers 1 2 4`.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import orjson
from redis import Redis

from bench.stack import bench_env, keep, make_dataset, ownstream, processes
from bench.wait import stored_readings, wait_workers
from shared.config import Settings
from shared.intake import PUSH, IntakePush, intake_key
from shared.queue import QueueMessage, enqueue_messages, ingest_queue, make_message

START = datetime(2026, 8, 1, tzinfo=UTC)


def fill(settings: Settings, dataset_id: int, values: int, per_job: int, path: str) -> tuple[str, int]:
    """Queue `values` one-reading native messages, `per_job` per flush; returns the list they wait in (the queue's
    or the intake's) and how many jobs or flushes it holds."""
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    queue.empty()
    redis.delete(intake_key(settings))
    shaped = settings.model_copy(update={"enqueue_max_batch": per_job})
    intake = IntakePush(settings, queue.key, str)
    push = redis.register_script(PUSH)

    def to_intake(messages: list[QueueMessage]) -> int:
        for first in range(0, len(messages), per_job):
            flush = messages[first : first + per_job]
            keys, args, _ = intake.call(flush, orjson.dumps(flush))
            push(keys=keys, args=args)
        return -(-len(messages) // per_job)

    jobs = 0
    for first in range(0, values, 10_000):
        messages = [
            make_message(
                "native",
                dataset_id,
                orjson.dumps(
                    {
                        "readings": [
                            {
                                "time": (START + timedelta(milliseconds=n)).isoformat(),
                                "device": f"d{n % 50}",
                                "values": {"temperature": n},
                            }
                        ]
                    }
                ).decode(),
                source="http",
            )
            for n in range(first, min(values, first + 10_000))
        ]
        jobs += to_intake(messages) if path == "intake" else enqueue_messages(queue, shaped, messages)
    return (intake_key(settings) if path == "intake" else queue.key), jobs


def run(workers: int, values: int, per_job: int, path: str) -> dict:
    env = bench_env(f"ownstream_bench_workers{workers}")
    settings = Settings()
    dataset = make_dataset(settings, variables=("temperature",))
    key, jobs = fill(settings, dataset.id, values, per_job, path)
    # What was queued waits aside while the workers start (their start-up is not timed), then comes back at once.
    redis = Redis.from_url(settings.redis_url)
    ids = redis.lrange(key, 0, -1)
    redis.delete(key)
    with processes([ownstream("worker") for _ in range(workers)], env):
        wait_workers(workers)
        began = time.perf_counter()
        with redis.pipeline(transaction=False) as pipe:
            for first in range(0, len(ids), 10_000):
                pipe.rpush(key, *ids[first : first + 10_000])
            pipe.execute()
        elapsed = stored_readings(env["OWNSTREAM_DATABASE_URL"], values, began, timeout=600)
    return {
        "workers": workers,
        "values": values,
        "path": path,
        "jobs" if path == "jobs" else "flushes": jobs,
        "seconds": round(elapsed, 2),
        "values_per_s": round(values / elapsed),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--per-job", type=int, default=16, help="messages per flush (per job with --path jobs)")
    parser.add_argument("--path", choices=("intake", "jobs"), default="intake")
    args = parser.parse_args(argv)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "workers scaling",
        "settings": vars(args),
        "by_workers": [run(w, args.values, args.per_job, args.path) for w in args.workers],
        "note": "timed from the queued jobs' release to the last commit; worker start-up is not timed",
    }
    return keep("workers", record)


if __name__ == "__main__":
    main()
