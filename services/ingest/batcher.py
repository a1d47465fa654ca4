"""Group commit: requests arriving while a flush is under way share the next Redis round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.queue import QueueMessage


class Batcher:
    """Collects messages from concurrent requests and enqueues them together.

    `submit` returns once the message is in Redis (or raises what the enqueue raised). At most one
    flush runs at a time per process; while it runs, newcomers gather for the next one.
    """

    def __init__(self, enqueue: Callable[[list[QueueMessage]], Awaitable[object]]) -> None:
        self._enqueue = enqueue
        self._pending: list[tuple[list[QueueMessage], asyncio.Future[None]]] = []
        self._flushing = False

    async def submit(self, messages: list[QueueMessage]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((messages, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                messages = [m for group, _ in batch for m in group]
                try:
                    await self._enqueue(messages)
                except Exception as error:  # handed to every waiting request, which answers 503
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._flushing = False
