"""Group commit: requests arriving while a flush is under way share the next Redis round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.ingest.idempotency import Claim, Receipt
from shared.queue import QueueMessage


@dataclass
class Submission:
    """One request's messages (and its Idempotency-Key claim, if any) waiting for the next flush."""

    messages: list[QueueMessage]
    claim: Claim | None = None


class Batcher:
    """Collects submissions from concurrent requests and flushes them together.

    `flush` (a coroutine) allocates entry ids and enqueues every submission it is given, in one go.
    `submit` returns the submission's receipt once its messages are in Redis, or raises what the flush
    raised. At most one flush runs at a time per process; while it runs, newcomers gather for the next one.

    Each flush becomes a worker job, and a job costs a worker a fixed few milliseconds of bookkeeping. `flush`
    returns how many jobs wait in the queue; while workers keep up, flushes follow each other at once, and as jobs
    pile up the next flush waits longer (`pace_s` per waiting job, up to `max_wait_s`), so batches grow and the
    workers catch up: backpressure that costs nothing while there is none.
    """

    def __init__(self, flush: Callable[[list[Submission]], Awaitable[int]], pace_s: float = 0.0,
                 max_wait_s: float = 0.0) -> None:
        self._flush_fn = flush
        self._pace_s = pace_s
        self._max_wait_s = max_wait_s
        self._min_interval_s = 0.0
        self._pending: list[tuple[Submission, asyncio.Future[Receipt]]] = []
        self._flushing = False
        self._last_start = float("-inf")

    async def submit(self, messages: list[QueueMessage] | Submission) -> Receipt:
        submission = messages if isinstance(messages, Submission) else Submission(messages)
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append((submission, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                wait = self._last_start + self._min_interval_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # newcomers keep gathering meanwhile
                self._last_start = loop.time()
                batch, self._pending = self._pending, []
                try:
                    waiting = await self._flush_fn([submission for submission, _ in batch])
                    self._min_interval_s = min(self._max_wait_s, waiting * self._pace_s)
                except Exception as error:  # handed to every waiting request, which answers 503
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for submission, future in batch:
                        if not future.done():
                            future.set_result(Receipt.of(submission.messages))
        finally:
            self._flushing = False
