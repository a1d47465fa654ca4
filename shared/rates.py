"""Readings stored per second across all workers, kept in Redis as 10-second buckets for `ownstream status`."""

from __future__ import annotations

import time

from redis import Redis

BUCKET_S = 10
KEEP_S = 180


def _key(namespace: str, bucket: int) -> str:
    return f"{namespace}:stored:{bucket}"


def record(redis: Redis, namespace: str, count: int, now: float | None = None) -> None:
    """Add `count` stored readings to the current bucket (one round trip)."""
    if count <= 0:
        return
    key = _key(namespace, int((time.time() if now is None else now) // BUCKET_S))
    with redis.pipeline(transaction=False) as pipe:
        pipe.incrby(key, count)
        pipe.expire(key, KEEP_S)
        pipe.execute()


def per_second(redis: Redis, namespace: str, window_s: int = 60, now: float | None = None) -> float:
    """Readings stored per second over the last `window_s` seconds (whole buckets, the current one included)."""
    current = int((time.time() if now is None else now) // BUCKET_S)
    buckets = range(current - window_s // BUCKET_S + 1, current + 1)
    values = redis.mget([_key(namespace, b) for b in buckets])
    return sum(int(v) for v in values if v) / window_s
