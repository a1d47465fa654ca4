"""Waiting on the stack under test: workers registered, readings committed."""

from __future__ import annotations

import time

import psycopg
from redis import Redis
from rq import Worker

from shared.config import Settings
from shared.queue import ingest_queue


def wait_workers(count: int, timeout: float = 60) -> None:
    """Wait until `count` workers listen on the queue, so start-up is not timed."""
    settings = Settings()
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=queue)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not start")
        time.sleep(0.1)


def stored_readings(dsn: str, total: int, began: float, timeout: float = 300) -> float:
    """Seconds from `began` (perf_counter) until `total` readings are committed; raises after `timeout`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute("select count(*) from readings").fetchone()[0] < total:
            if time.perf_counter() - began > timeout:
                raise TimeoutError(f"{total} readings not stored within {timeout} s")
            time.sleep(0.02)
    return time.perf_counter() - began
