"""Ingest rate limit per key: a token bucket per write key or device token, per receiver process (off by default).

In memory, so it costs the hot push path a dict lookup and no round trip; with several receiver processes the
limit holds in each of them.
"""

from __future__ import annotations

import math
import time

from shared.errors import RateLimited

MAX_BUCKETS = 100_000  # keys tracked at once; past that the oldest state is forgotten (a fresh, full bucket)


class KeyRateLimit:
    """At most `rate` requests per second per key on average, `burst` at once; `rate` 0 turns it off."""

    def __init__(self, rate: float, burst: float = 0.0) -> None:
        self.rate = rate
        self.burst = max(burst, rate, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None) -> None:
        """Spend one request of `key`'s allowance, or raise RateLimited with the seconds to wait."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, when = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - when) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.rate)
            raise RateLimited(
                f"over the ingest rate of {self.rate:g} requests/s for this key; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1.0, now)
