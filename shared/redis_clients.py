"""Redis clients, made one way: every client has timeouts, so a Redis that stops answering is an error, not a hang.

RQ's worker raises the socket timeout of its own connection above its blocking dequeue's wait by itself.
"""

from __future__ import annotations

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from shared.config import Settings

SOCKET_TIMEOUT_S = 5
CONNECT_TIMEOUT_S = 2
HEALTH_CHECK_S = 30  # a pooled connection idle this long is pinged before use (a restarted Redis)


def redis_client(settings: Settings, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_S,
    )


def async_redis_client(settings: Settings) -> AsyncRedis:
    return AsyncRedis.from_url(
        settings.redis_url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_S,
    )
