"""The ingest receiver's long-lived parts: Redis, the credential cache, the accept path, the batcher."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from services.ingest.backlog import Backlog
from services.ingest.batcher import Batcher, Submission
from services.ingest.credentials import UNKNOWN, Credential, CredentialResolver
from services.ingest.entries import EntryIds
from services.ingest.formats import Limits
from services.ingest.idempotency import Claim, Idempotency, Receipt
from services.ingest.rate_limit import KeyRateLimit
from shared.config import Settings
from shared.queue import QueueMessage, add_messages, execute_recorded, ingest_queue


@dataclass
class IngestRuntime:
    settings: Settings
    redis: Redis = field(init=False)
    aredis: AsyncRedis = field(init=False)
    pool: ConnectionPool = field(init=False)
    credentials: CredentialResolver = field(init=False)
    limits: Limits = field(init=False)
    batcher: Batcher = field(init=False)
    entry_ids: EntryIds = field(init=False)
    idempotency: Idempotency = field(init=False)
    rate_limit: KeyRateLimit = field(init=False)
    backlog: Backlog = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.redis = Redis.from_url(s.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
        self.pool = ConnectionPool(
            s.database_url,
            min_size=1,
            max_size=4,
            open=False,
            timeout=5,
            kwargs={"autocommit": True, "connect_timeout": 5},
        )
        self.aredis = AsyncRedis.from_url(
            s.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        self.credentials = CredentialResolver(s, self.redis, self.pool)
        self.limits = Limits.of(s)
        self.entry_ids = EntryIds(self.redis, self.pool, s.redis_namespace)
        self.idempotency = Idempotency(self.redis, s)
        self._queue = ingest_queue(self.redis, s)
        self.batcher = Batcher(self._flush)
        self.backlog = Backlog(s.queue_max_backlog, s.backlog_retry_after_s)
        self.rate_limit = KeyRateLimit(s.ingest_rate_per_key, s.ingest_burst_per_key)

    def start(self) -> None:
        self.pool.open(wait=False)
        self.credentials.start()
        with suppress(RedisError):  # RQ asks once; if Redis is away now, the first enqueue asks (and 503s)
            self._queue.get_redis_server_version()

    async def stop(self) -> None:
        self.credentials.stop()
        self.pool.close()
        self.redis.close()
        await self.aredis.aclose()

    async def credential(self, key: str | None) -> Credential | None:
        """The credential for `key` (the database read off the event loop only on a cache miss); a valid key
        over its rate limit (OWNSTREAM_INGEST_RATE_PER_KEY) is refused with 429."""
        if not key:
            return None
        hit = self.credentials.cached(key)
        found = hit if hit is not UNKNOWN else await run_in_threadpool(self.credentials.resolve, key)
        if found is not None and self.rate_limit.enabled:
            self.rate_limit.take(key)
        return found  # type: ignore[return-value]

    async def submit(
        self, messages: list[QueueMessage], *, idempotency_key: str | None = None, dataset_id: int | None = None
    ) -> Receipt:
        """Queue `messages` durably and return their receipt (entry ids); raises if they could not be queued.

        With an `idempotency_key` (scoped to `dataset_id`), a request already answered gets that answer back
        (`replayed`) and nothing is queued again; a key whose first request failed is free to be used again.
        Raises QueueFull (503, Retry-After) while the queue's backlog is at its limit.
        """
        await self.backlog.admit(self._queue_length)
        if not idempotency_key:
            return await self.batcher.submit(Submission(messages))
        scope = messages[0]["dataset_id"] if dataset_id is None else dataset_id
        claimed = await run_in_threadpool(self.idempotency.claim, scope, idempotency_key, messages)
        if isinstance(claimed, Receipt):
            return claimed
        return await self.batcher.submit(Submission(messages, claimed))

    async def _queue_length(self) -> int:
        return await self.aredis.llen(self._queue.key)

    async def _flush(self, submissions: list[Submission]) -> None:
        """Allocate entry ids (one round trip), then queue jobs and record receipts in one MULTI/EXEC.

        The same transaction reads the queue's length, for the backlog limit.
        """
        messages = [m for submission in submissions for m in submission.messages]
        try:
            await self.entry_ids.assign_async(self.aredis, messages)
            recorder = self.redis.pipeline(transaction=True)  # collects commands; execute_recorded sends them
            add_messages(self._queue, self.settings, messages, recorder)
            for submission in submissions:
                if submission.claim is not None:
                    self.idempotency.record(recorder, submission.claim, Receipt.of(submission.messages))
            recorder.llen(self._queue.key)
            self.backlog.note((await execute_recorded(self.aredis, recorder))[-1])
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
