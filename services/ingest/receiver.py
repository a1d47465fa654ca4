"""What every receiver process holds (the HTTP app's runtime, an MQTT bridge), composed in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool
from redis import Redis

from services.ingest.credentials import CredentialResolver
from services.ingest.enqueue import Enqueuer
from services.ingest.formats import Limits
from shared.config import Settings
from shared.redis_clients import redis_client


@dataclass
class Receiver:
    """Redis, a small database pool (credentials, entry-id seeds), the credential cache, limits, the enqueue path."""

    settings: Settings
    pool_size: int = 4
    redis: Redis = field(init=False)
    pool: ConnectionPool = field(init=False)
    credentials: CredentialResolver = field(init=False)
    limits: Limits = field(init=False)
    enqueuer: Enqueuer = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.redis = redis_client(s)
        self.pool = ConnectionPool(
            s.database_url,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            timeout=5,
            kwargs={"autocommit": True, "connect_timeout": 5},
        )
        self.credentials = CredentialResolver(s, self.redis, self.pool)
        self.limits = Limits.of(s)
        self.enqueuer = Enqueuer(s, self.redis, self.pool)

    def open(self) -> None:
        self.pool.open(wait=False)
        self.credentials.start()

    def close(self) -> None:
        self.credentials.stop()
        self.pool.close()
        self.redis.close()
