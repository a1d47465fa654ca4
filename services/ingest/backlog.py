"""The queue's backlog as receivers see it: past the configured limit HTTP refuses (503) and MQTT holds PUBACKs.

Every flush reports the queue's length (one LLEN in its MULTI/EXEC), so while the backlog is under the limit a
receiver asks Redis nothing more. Once at the limit it asks again at most every `refresh_s`, and answers from
the last figure meanwhile: a burst of refused requests costs one LLEN, and it lets them in as soon as the
workers have drained the queue below the limit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from shared.errors import QueueFull


class Backlog:
    """The last known number of jobs waiting in the queue, and the limit past which receivers stop accepting."""

    def __init__(self, limit: int, retry_after_s: int, refresh_s: float = 0.1) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.refresh_s = refresh_s
        self.depth = 0
        self._seen_at = float("-inf")

    def note(self, depth: int) -> None:
        """Record the queue's length as a flush (or a check) just saw it."""
        self.depth = depth
        self._seen_at = time.monotonic()

    def _stale(self) -> bool:
        if self.depth < self.limit or time.monotonic() - self._seen_at < self.refresh_s:
            return False
        self._seen_at = time.monotonic()  # one caller asks; the others answer from the last figure meanwhile
        return True

    def refusal(self) -> QueueFull:
        return QueueFull(
            f"{self.depth} jobs wait in the queue (limit {self.limit}); send again later",
            headers={"Retry-After": str(self.retry_after_s)},
        )

    async def admit(self, length: Callable[[], Awaitable[int]]) -> None:
        """Raise QueueFull (503, Retry-After) while the queue holds `limit` jobs or more."""
        if self._stale():
            self.note(await length())
        if self.depth >= self.limit:
            raise self.refusal()

    def wait_for_room(self, length: Callable[[], int], stopping: Callable[[float], bool]) -> bool:
        """Block while the queue is at the limit (asking Redis every `refresh_s`); False if stopping meanwhile."""
        while self.depth >= self.limit:
            if stopping(self.refresh_s):
                return False
            self.note(length())
        return True
