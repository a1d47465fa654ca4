"""The ingest receiver's long-lived parts: Redis, the credential cache, the accept path, the batcher."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

from psycopg_pool import ConnectionPool
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from rq import Queue
from starlette.concurrency import run_in_threadpool

from services.ingest.accept import Acceptor
from services.ingest.batcher import Batcher
from services.ingest.credentials import UNKNOWN, Credential, CredentialResolver
from shared.config import Settings
from shared.queue import enqueue_messages_async, ingest_queue


@dataclass
class IngestRuntime:
    settings: Settings
    redis: Redis = field(init=False)
    aredis: AsyncRedis = field(init=False)
    queue: Queue = field(init=False)
    pool: ConnectionPool = field(init=False)
    credentials: CredentialResolver = field(init=False)
    acceptor: Acceptor = field(init=False)
    batcher: Batcher = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.redis = Redis.from_url(s.redis_url, socket_timeout=5, socket_connect_timeout=2,
                                    health_check_interval=30)
        self.pool = ConnectionPool(s.database_url, min_size=1, max_size=4, open=False, timeout=5,
                                   kwargs={"autocommit": True, "connect_timeout": 5})
        self.credentials = CredentialResolver(s, self.redis, self.pool)
        self.acceptor = Acceptor(s)
        self.aredis = AsyncRedis.from_url(s.redis_url, socket_timeout=5, socket_connect_timeout=2,
                                          health_check_interval=30)
        self.queue = ingest_queue(self.redis, s)
        self.batcher = Batcher(partial(enqueue_messages_async, self.aredis, self.queue, s))

    def start(self) -> None:
        self.pool.open(wait=False)
        self.credentials.start()
        with suppress(RedisError):  # RQ asks once; if Redis is away now, the first enqueue asks (and 503s)
            self.queue.get_redis_server_version()

    async def stop(self) -> None:
        self.credentials.stop()
        self.pool.close()
        self.redis.close()
        await self.aredis.aclose()

    async def credential(self, key: str | None) -> Credential | None:
        """The credential for `key`; the database is read (off the event loop) only on a cache miss."""
        if not key:
            return None
        hit = self.credentials.cached(key)
        if hit is not UNKNOWN:
            return hit  # type: ignore[return-value]
        return await run_in_threadpool(self.credentials.resolve, key)
