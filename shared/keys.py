"""API keys and device tokens: random, shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import logging
import secrets

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_BYTES = 20  # 160 bits


def generate_key() -> str:
    """A new random key (160 bits, hex)."""
    return secrets.token_hex(KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored form of a key; keys are high-entropy, so a fast hash suffices."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


# Every change to keys, tokens or variables bumps this counter; receivers drop their caches when it moves.
def keys_version_key(namespace: str) -> str:
    return f"{namespace}:keys:version"


def announce_key_change(redis: Redis, namespace: str) -> bool:
    """Tell every receiver that credentials changed (they re-read them within their poll interval).

    Called after the change is committed, so a Redis failure must not hide the change from its caller: it is
    logged, and receivers that cannot reach Redis drop their caches by themselves. Returns whether it was sent.
    """
    try:
        redis.incr(keys_version_key(namespace))
    except RedisError as error:
        log.warning("could not announce a credentials change through Redis: %s", error)
        return False
    return True
