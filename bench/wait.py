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
    """Seconds from `began` (perf_counter) until `total` readings are committed; raises after `timeout`.

    Polls the datasets' reading counters (one row each, updated in the write's own transaction), not
    `count(*)` of readings: counting a growing table every 20 ms took a fifth of PostgreSQL's time in B2, load
    the system under test should not carry. The readings are counted once, at the end, to check the counters.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute("select coalesce(sum(entry_count), 0) from datasets").fetchone()[0] < total:
            if time.perf_counter() - began > timeout:
                raise TimeoutError(f"{total} readings not stored within {timeout} s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - began
        counters, counted = conn.execute(
            "select (select sum(entry_count) from datasets), (select count(*) from readings)"
        ).fetchone()
    if counters != counted:
        raise AssertionError(f"the datasets count {counters} readings stored, the readings table holds {counted}")
    return elapsed
