"""The HTTP receiver's long-lived parts: a Receiver plus the async Redis client, the batcher and rate limits."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from services.ingest.batcher import Batcher, Submission
from services.ingest.credentials import UNKNOWN, Credential
from services.ingest.idempotency import Receipt
from services.ingest.rate_limit import KeyRateLimit
from services.ingest.receiver import Receiver
from shared.intake import backlog_async
from shared.queue import QueueMessage
from shared.redis_clients import async_redis_client


@dataclass
class IngestRuntime(Receiver):
    """An HTTP app's receiver: requests gather in the batcher and are queued by group commit."""

    aredis: AsyncRedis = field(init=False)
    batcher: Batcher = field(init=False)
    rate_limit: KeyRateLimit = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        s = self.settings
        self.aredis = async_redis_client(s)
        self.batcher = Batcher(self._flush)
        self.rate_limit = KeyRateLimit(s.ingest_rate_per_key, s.ingest_burst_per_key, s.redis_namespace)

    def start(self) -> None:
        self.open()
        with suppress(RedisError):  # RQ asks once; if Redis is away now, the first enqueue asks (and 503s)
            self.enqueuer.queue.get_redis_server_version()

    async def stop(self) -> None:
        self.close()
        await self.aredis.aclose()

    async def credential(self, key: str | None) -> Credential | None:
        """The credential for `key` (the database read off the event loop only on a cache miss); a valid key
        over its rate limit (OWNSTREAM_INGEST_RATE_PER_KEY, shared through Redis) is refused with 429."""
        if not key:
            return None
        hit = self.credentials.cached(key)
        found = cast(
            Credential | None, hit if hit is not UNKNOWN else await run_in_threadpool(self.credentials.resolve, key)
        )
        if found is not None and self.rate_limit.enabled:
            await self.rate_limit.take_async(self.aredis, found)
        return found

    async def submit(self, messages: list[QueueMessage], *, idempotency_key: str | None = None) -> Receipt:
        """Queue `messages` durably and return their receipt (entry ids); raises if they could not be queued.

        With an `idempotency_key` (scoped to the messages' dataset), a request already answered gets that answer
        back (`replayed`) and nothing is queued again; a key whose first request failed is free to be used again.
        Raises QueueFull (503, Retry-After) while the queue's backlog is at its limit.
        """
        enqueuer = self.enqueuer
        await enqueuer.backlog.admit(self._queue_length)
        if not idempotency_key:
            return await self.batcher.submit(Submission(messages))
        scope = messages[0]["dataset_id"]
        claimed = await run_in_threadpool(enqueuer.idempotency.claim, scope, idempotency_key, messages)
        if isinstance(claimed, Receipt):
            return claimed
        return await self.batcher.submit(Submission(messages, claimed))

    async def _queue_length(self) -> int:
        return await backlog_async(self.aredis, self.settings, self.enqueuer.queue.key)

    async def _flush(self, submissions: list[Submission]) -> None:
        await self.enqueuer.flush(self.aredis, submissions)
