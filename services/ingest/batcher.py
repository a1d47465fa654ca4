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

    Flushes follow each other at once: an acknowledgement waits on Redis only, never on the workers, which take
    many queued jobs per transaction (services/worker/multijob.py) however small each flush is. A backlog past
    the configured limit is refused before submitting (IngestRuntime.submit), not paced here.
    """

    def __init__(self, flush: Callable[[list[Submission]], Awaitable[object]]) -> None:
        self._flush_fn = flush
        self._pending: list[tuple[Submission, asyncio.Future[Receipt]]] = []
        self._flushing = False

    async def submit(self, messages: list[QueueMessage] | Submission) -> Receipt:
        submission = messages if isinstance(messages, Submission) else Submission(messages)
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append((submission, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._flush_fn([submission for submission, _ in batch])
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
