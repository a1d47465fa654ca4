"""The one enqueue path: HTTP routes (through the batcher) and the MQTT bridge queue accepted messages here.

Entry ids are allocated first (one round trip), then the jobs, any Idempotency-Key receipts and a read of the
queue's length (for the backlog limit) go to Redis in one MULTI/EXEC. HTTP flushes run on the event loop
(`flush`), the bridge's pump thread calls `enqueue`; both record the same commands (`_record`).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from psycopg_pool import ConnectionPool
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from redis.exceptions import RedisError

from services.ingest.backlog import Backlog
from services.ingest.batcher import Submission
from services.ingest.entries import EntryIds
from services.ingest.idempotency import Claim, Idempotency, Receipt
from shared.config import Settings
from shared.queue import QueueMessage, add_messages, execute_recorded, ingest_queue


class Enqueuer:
    """Queues messages durably for one receiver process (an HTTP app or a bridge)."""

    def __init__(self, settings: Settings, redis: Redis, pool: ConnectionPool) -> None:
        self.settings = settings
        self.redis = redis
        self.queue = ingest_queue(redis, settings)
        self.entry_ids = EntryIds(redis, pool, settings.redis_namespace)
        self.idempotency = Idempotency(redis, settings)
        self.backlog = Backlog(settings.queue_max_backlog, settings.backlog_retry_after_s)

    def _record(self, pipe: Pipeline, messages: list[QueueMessage], submissions: list[Submission]) -> None:
        add_messages(self.queue, self.settings, messages, pipe)
        for submission in submissions:
            if submission.claim is not None:
                self.idempotency.record(pipe, submission.claim, Receipt.of(submission.messages))
        pipe.llen(self.queue.key)

    def enqueue(self, messages: list[QueueMessage]) -> None:
        """Queue `messages` (blocking; the bridge's pump thread)."""
        self.entry_ids.assign(messages)
        with self.redis.pipeline(transaction=True) as pipe:
            self._record(pipe, messages, [])
            self.backlog.note(pipe.execute()[-1])

    async def flush(self, aredis: AsyncRedis, submissions: list[Submission]) -> None:
        """Queue the submissions of one batcher flush, with their receipts, without leaving the event loop."""
        messages = [m for submission in submissions for m in submission.messages]
        try:
            await self.entry_ids.assign_async(aredis, messages)
            recorder = self.redis.pipeline(transaction=True)  # collects commands; execute_recorded sends them
            self._record(recorder, messages, submissions)
            self.backlog.note((await execute_recorded(aredis, recorder))[-1])
        except Exception:
            # Nothing was queued (or the answer was recorded with it): free the keys so resends are accepted.
            # Here rather than in the request, so a client that hung up still lets go of its key.
            claims = [s.claim for s in submissions if s.claim is not None]
            if claims:
                await asyncio.to_thread(self._release, claims)
            raise

    def _release(self, claims: list[Claim]) -> None:
        for claim in claims:
            with suppress(RedisError):  # unreachable: the claim expires by itself
                self.idempotency.release(claim)
