"""Ingest rate limit per key, shared through Redis by every receiver process and bridge (off by default).

A key is what a credential grants: a dataset's write key, or one device (its token, or its broker account on a
`registered/...` topic), so a key's allowance is the same whether it pushes over HTTP to any ingest process or
publishes over MQTT through any bridge. The bucket is GCRA (a token bucket kept as one timestamp per key, the
"theoretical arrival time"): one Lua script per request reads and moves it atomically on Redis's own clock, so
processes on several machines agree without synchronised clocks. At most OWNSTREAM_INGEST_RATE_PER_KEY requests
per second on average and OWNSTREAM_INGEST_BURST_PER_KEY at once (at least one second's worth).

Over the limit: HTTP answers 429 with Retry-After; the bridge drops the message (the broker already acknowledged
it to the device) and counts it (`ownstream_mqtt_dropped{reason="rate_limited"}`).

Redis unreachable: the request is let through uncounted (fail open, as the read cost limit does). The limit
protects the service from a runaway device; while Redis is away nothing can be queued anyway, so refusing
would add nothing but a second error.

Cost when on: one Redis round trip per request or MQTT message. Off (rate 0): none. A batch the bridge has to
retry (Redis or PostgreSQL away while it enqueued) takes from its keys' allowances again.
"""

from __future__ import annotations

import logging
import math
import time

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from services.ingest.credentials import Credential
from shared.errors import RateLimited

log = logging.getLogger(__name__)

# KEYS[1]: the key's bucket. ARGV[1]: microseconds per request. ARGV[2]: the burst, in microseconds.
# Returns 0 (taken) or the microseconds to wait before the next request would be taken.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local after = tat + interval
local wait = after - now - burst
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1)
return 0
"""

WARN_EVERY_S = 60.0  # at most one "Redis unreachable" warning per process this often


class KeyRateLimit:
    """At most `rate` requests per second per key on average, `burst` at once; `rate` 0 turns it off."""

    def __init__(self, rate: float, burst: float = 0.0, namespace: str = "ownstream") -> None:
        self.rate = rate
        self.burst = max(burst, rate, 1.0)
        self.namespace = namespace
        self.interval_us = round(1_000_000 / rate) if rate > 0 else 0
        self.burst_us = round(self.burst * 1_000_000 / rate) if rate > 0 else 0
        self._warned_at = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def bucket(self, credential: Credential) -> str:
        """The Redis key of `credential`'s allowance (no secret in it: the dataset, and the device if any)."""
        return f"{self.namespace}:ingest-rate:{credential.kind}:{credential.dataset_id}:{credential.device or ''}"

    def take(self, redis: Redis, credential: Credential) -> None:
        """Spend one request of the key's allowance, or raise RateLimited with the seconds to wait."""
        if not self.enabled:
            return
        try:
            wait_us = int(redis.eval(GCRA, 1, self.bucket(credential), self.interval_us, self.burst_us))
        except RedisError as error:
            self._unchecked(error)
            return
        self._verdict(wait_us)

    async def take_async(self, redis: AsyncRedis, credential: Credential) -> None:
        """take(), on the event loop's Redis client."""
        if not self.enabled:
            return
        try:
            wait_us = int(await redis.eval(GCRA, 1, self.bucket(credential), self.interval_us, self.burst_us))
        except RedisError as error:
            self._unchecked(error)
            return
        self._verdict(wait_us)

    def _verdict(self, wait_us: int) -> None:
        if wait_us > 0:
            wait = max(1, math.ceil(wait_us / 1_000_000))
            raise RateLimited(
                f"over the ingest rate of {self.rate:g} requests/s for this key; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def _unchecked(self, error: RedisError) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_S:
            self._warned_at = time.monotonic()
            log.warning("ingest rate limit not checked, requests let through (Redis: %s)", error)
