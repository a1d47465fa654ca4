"""Read cost limit: the server time one caller's reads may take per minute, shared by every API process.

A caller is the logged-in user, else the personal, device or read key it presents, else its address. A read is
let through while the caller's time this minute is under OWNSTREAM_READ_COST_MS_PER_MINUTE, then charged
with what it took; past the budget, 429 with Retry-After (the seconds left in the minute). Redis keeps the
counts; when Redis is away, reads are let through uncounted rather than refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator

from fastapi import Depends, Request
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import RateLimited
from shared.keys import bearer_token

log = logging.getLogger(__name__)

WINDOW_S = 60


def caller_of(request: Request) -> str:
    """Who pays for this read: the session's user, else a hash of the key presented, else the client address."""
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id is not None:
        return f"user:{user_id}"
    key = (
        bearer_token(request.headers.get("authorization"))
        or request.headers.get("x-read-key")
        or request.query_params.get("key")
        or request.query_params.get("api_key")
    )
    if key:
        return "key:" + hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return f"addr:{request.client.host if request.client else 'unknown'}"


class ReadCost:
    """Per-caller budgets of read time, in fixed one-minute windows."""

    def __init__(self, redis: Redis, namespace: str, budget_ms: int) -> None:
        self.redis, self.namespace, self.budget_ms = redis, namespace, budget_ms

    def _key(self, caller: str, now: float) -> str:
        return f"{self.namespace}:readcost:{caller}:{int(now // WINDOW_S)}"

    def check(self, caller: str, now: float) -> None:
        try:
            spent = float(self.redis.get(self._key(caller, now)) or 0)
        except RedisError as error:
            log.warning("read cost not checked (Redis: %s)", error)
            return
        if spent >= self.budget_ms:
            wait = max(1, math.ceil(WINDOW_S - now % WINDOW_S))
            raise RateLimited(
                f"this caller's reads used {spent / 1000:.1f} s of server time this minute, over the "
                f"limit of {self.budget_ms / 1000:g} s; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def charge(self, caller: str, now: float, spent_ms: float) -> None:
        key = self._key(caller, now)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.incrbyfloat(key, round(spent_ms, 3))
                pipe.expire(key, WINDOW_S * 2)
                pipe.execute()
        except RedisError as error:
            log.warning("read cost not recorded (Redis: %s)", error)


def read_cost(request: Request) -> Iterator[None]:
    """Dependency of the read endpoints: refuses a caller over budget, then charges the read's time."""
    budget = request.app.state.settings.read_cost_ms_per_minute
    if budget <= 0:
        yield
        return
    limiter = ReadCost(request.app.state.redis, request.app.state.settings.redis_namespace, budget)
    caller, now = caller_of(request), time.time()
    limiter.check(caller, now)
    started = time.perf_counter()
    try:
        yield
    finally:
        limiter.charge(caller, now, (time.perf_counter() - started) * 1000)


ReadCostDep = Depends(read_cost)
