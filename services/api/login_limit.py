"""Failed logins are counted per user name and per client address, in Redis for every API process.

Past the limit, logins are refused with 429 until the window passes: Argon2id makes each guess slow, this makes
guessing hopeless. If Redis cannot be asked, logins are not blocked (the owner must never be locked out).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import Depends, Request
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import RateLimited

log = logging.getLogger(__name__)

LIMIT = 10  # failures per user name
ADDRESS_LIMIT = 50  # failures per client address (several people may share one)
WINDOW_S = 900


class LoginLimiter:
    def __init__(self, redis: Redis, namespace: str, limit: int = LIMIT, window_s: int = WINDOW_S) -> None:
        self.redis, self.namespace, self.limit, self.window_s = redis, namespace, limit, window_s

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        name = hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return f"{self.namespace}:login-fail:user:{name}", f"{self.namespace}:login-fail:addr:{address}"

    def check(self, username: str, address: str) -> None:
        """Raise RateLimited when this user name or this address failed too often lately."""
        try:
            counts = self.redis.mget(self._keys(username, address))
        except RedisError as error:
            log.warning("login limiter unavailable: %s", error)
            return
        user_count, address_count = (int(count or 0) for count in counts)
        if user_count >= self.limit or address_count >= ADDRESS_LIMIT:
            raise RateLimited(
                f"too many failed logins; try again in {self.window_s // 60} minutes",
                headers={"Retry-After": str(self.window_s)},
            )

    def failed(self, username: str, address: str) -> None:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for key in self._keys(username, address):
                    pipe.incr(key)
                    pipe.expire(key, self.window_s, nx=True)
                pipe.execute()
        except RedisError as error:
            log.warning("login limiter unavailable: %s", error)

    def succeeded(self, username: str) -> None:
        try:
            self.redis.delete(self._keys(username, "")[0])
        except RedisError as error:
            log.warning("login limiter unavailable: %s", error)


def login_limiter(request: Request) -> LoginLimiter:
    return LoginLimiter(request.app.state.redis, request.app.state.settings.redis_namespace)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


LoginLimiterDep = Annotated[LoginLimiter, Depends(login_limiter)]
