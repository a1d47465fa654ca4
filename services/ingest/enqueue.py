"""The one enqueue path: HTTP routes (through the batcher) and the MQTT bridge queue accepted messages here.

A small flush (the common case: single pushes, MQTT messages) goes to the intake (shared/intake.py) in one round
trip that also allocates its entry ids and reads the backlog; workers make many such flushes into one RQ job.
A flush that is already a worthwhile job (BIG_FLUSH_BYTES as JSON), or that carries Idempotency-Key receipts,
is queued as RQ jobs directly: entry ids are allocated first (one round trip), then the jobs, the receipts and a
read of the backlog go to Redis in one MULTI/EXEC. HTTP flushes run on the event loop (`flush`), the bridge's pump
thread calls `enqueue`; both send the same commands.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import orjson
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
from shared.intake import PUSH, IntakePush
from shared.queue import QueueMessage, add_messages, execute_recorded, ingest_queue

# A flush this large (as JSON) is a worthwhile RQ job by itself (a batch of readings): it skips the intake.
BIG_FLUSH_BYTES = 16_384
SEED_TRIES = 3


class Enqueuer:
    """Queues messages durably for one receiver process (an HTTP app or a bridge)."""

    def __init__(self, settings: Settings, redis: Redis, pool: ConnectionPool) -> None:
        self.settings = settings
        self.redis = redis
        self.queue = ingest_queue(redis, settings)
        self.entry_ids = EntryIds(redis, pool, settings.redis_namespace)
        self.idempotency = Idempotency(redis, settings)
        self.backlog = Backlog(settings.queue_max_backlog, settings.backlog_retry_after_s)
        self.intake = IntakePush(settings, self.queue.key, self.entry_ids.key)
        self._push = redis.register_script(PUSH)
        self._push_async: Any = None  # the script on the event loop's client, registered at its first use

    @staticmethod
    def for_intake(messages: list[QueueMessage], submissions: list[Submission]) -> bytes | None:
        """The messages as the intake keeps them, or None when they are queued as RQ jobs directly."""
        if any(s.claim is not None for s in submissions):
            return None
        # A text payload is at least as long in the JSON as its own length: a flush whose text payloads alone reach
        # the limit is big, decided without serializing it (a 1,000-record AutoPi upload would be, only to be
        # thrown away: RQ serializes the job again).
        if sum(len(m["payload"]) for m in messages if isinstance(m["payload"], str)) >= BIG_FLUSH_BYTES:
            return None
        text = orjson.dumps(messages)
        return text if len(text) < BIG_FLUSH_BYTES else None

    def _record(self, pipe: Pipeline, messages: list[QueueMessage], submissions: list[Submission]) -> None:
        add_messages(self.queue, self.settings, messages, pipe)
        for submission in submissions:
            if submission.claim is not None:
                self.idempotency.record(pipe, submission.claim, Receipt.of(submission.messages))
        pipe.llen(self.queue.key)
        pipe.llen(self.intake.intake)

    def enqueue(self, messages: list[QueueMessage]) -> None:
        """Queue `messages` (blocking; the bridge's pump thread)."""
        if (text := self.for_intake(messages, [])) is not None:
            keys, args, datasets = self.intake.call(messages, text)
            for _ in range(SEED_TRIES):
                depth = self.intake.answer(self._push(keys=keys, args=args), messages, datasets)
                if depth is not None:
                    self.backlog.note(depth)
                    return
                self.entry_ids.seed(datasets)
            raise RedisError("entry id counters vanish as soon as they are seeded")
        self.entry_ids.assign(messages)
        with self.redis.pipeline(transaction=True) as pipe:
            self._record(pipe, messages, [])
            results = pipe.execute()
            self.backlog.note(results[-2] + results[-1])

    async def flush(self, aredis: AsyncRedis, submissions: list[Submission]) -> None:
        """Queue the submissions of one batcher flush, with their receipts, without leaving the event loop."""
        messages = [m for submission in submissions for m in submission.messages]
        try:
            if (text := self.for_intake(messages, submissions)) is not None:
                await self._to_intake(aredis, messages, text)
                return
            await self.entry_ids.assign_async(aredis, messages)
            recorder = self.redis.pipeline(transaction=True)  # collects commands; execute_recorded sends them
            self._record(recorder, messages, submissions)
            results = await execute_recorded(aredis, recorder)
            self.backlog.note(results[-2] + results[-1])
        except Exception:
            # Nothing was queued (or the answer was recorded with it): free the keys so resends are accepted.
            # Here rather than in the request, so a client that hung up still lets go of its key.
            claims = [s.claim for s in submissions if s.claim is not None]
            if claims:
                await asyncio.to_thread(self._release, claims)
            raise

    async def _to_intake(self, aredis: AsyncRedis, messages: list[QueueMessage], text: bytes) -> None:
        if self._push_async is None:
            self._push_async = aredis.register_script(PUSH)
        keys, args, datasets = self.intake.call(messages, text)
        for _ in range(SEED_TRIES):
            depth = self.intake.answer(await self._push_async(keys=keys, args=args), messages, datasets)
            if depth is not None:
                self.backlog.note(depth)
                return
            await asyncio.to_thread(self.entry_ids.seed, datasets)  # rare: a new dataset, or Redis lost its data
        raise RedisError("entry id counters vanish as soon as they are seeded")

    def _release(self, claims: list[Claim]) -> None:
        for claim in claims:
            with suppress(RedisError):  # unreachable: the claim expires by itself
                self.idempotency.release(claim)
