"""Idempotency-Key: a resend of a request gets the first answer back and enqueues nothing new.

A request with a key first *claims* it in Redis (a short-lived pending marker). Its answer (the receipt) is
written in the same MULTI/EXEC as its queue jobs, so an answer exists exactly when the data is queued. If the
enqueue fails the claim is released (or expires), so the resend is accepted as new rather than dropped.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import cast

import orjson
from redis import Redis
from redis.client import Pipeline

from shared.config import Settings
from shared.errors import BadRequest, Conflict
from shared.queue import QueueMessage

PENDING = b"pending:"
PENDING_TTL_S = 30  # longer than any flush (two Redis round trips and maybe one database read)
MAX_KEY_LENGTH = 255
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Receipt:
    """What a request was answered: the first entry id and receive time of each of its messages."""

    entry_ids: tuple[int | None, ...]
    received_at: tuple[float, ...]
    replayed: bool = False

    @property
    def entry_id(self) -> int | None:
        return self.entry_ids[0] if self.entry_ids else None

    @classmethod
    def of(cls, messages: list[QueueMessage]) -> Receipt:
        return cls(
            tuple((m.get("params") or {}).get("entry_id") for m in messages), tuple(m["received_at"] for m in messages)
        )


@dataclass(frozen=True)
class Claim:
    key: str  # the Redis key
    token: bytes  # the pending marker this request wrote
    fingerprint: str


def fingerprint(messages: list[QueueMessage]) -> str:
    """A digest of what the request carries (not when it came), to refuse a key reused for other data."""
    parts = [
        (
            m["format"],
            m["dataset_id"],
            m["payload"],
            m.get("device"),
            {k: v for k, v in (m.get("params") or {}).items() if k != "entry_id"},
        )
        for m in messages
    ]
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Idempotency:
    """Claims, records and releases Idempotency-Keys under the settings' Redis namespace."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.namespace = settings.redis_namespace
        self.ttl_s = settings.idempotency_ttl_s
        self.wait_s = settings.idempotency_wait_s
        self._release = redis.register_script(RELEASE)

    def redis_key(self, dataset_id: int, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.namespace}:idempotency:{dataset_id}:{digest}"

    def claim(self, dataset_id: int, key: str, messages: list[QueueMessage]) -> Claim | Receipt:
        """A claim on `key` for this request, or the receipt of the earlier request that used it (blocking)."""
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        redis_key, digest = self.redis_key(dataset_id, key), fingerprint(messages)
        token = PENDING + uuid.uuid4().hex.encode()
        deadline = time.monotonic() + self.wait_s
        while True:
            if self.redis.set(redis_key, token, nx=True, ex=PENDING_TTL_S):
                return Claim(redis_key, token, digest)
            value = cast(bytes | None, self.redis.get(redis_key))  # a client without decode_responses
            if value is None:
                continue  # the earlier request failed and let go: try again as new
            if not value.startswith(PENDING):
                return self._replay(value, digest)
            if time.monotonic() > deadline:
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress; send it again shortly",
                    headers={"Retry-After": "1"},
                )
            time.sleep(0.02)

    def record(self, pipe: Pipeline, claim: Claim, receipt: Receipt) -> None:
        """Add the answer to `pipe`, the transaction that also queues the request's data."""
        document = {
            "entry_ids": receipt.entry_ids,
            "received_at": receipt.received_at,
            "fingerprint": claim.fingerprint,
        }
        pipe.set(claim.key, orjson.dumps(document), ex=self.ttl_s)

    def release(self, claim: Claim) -> None:
        """Let go of a claim whose request failed, unless its answer was recorded after all."""
        self._release(keys=[claim.key], args=[claim.token])

    @staticmethod
    def _replay(value: bytes, digest: str) -> Receipt:
        document = orjson.loads(value)
        if document.get("fingerprint") != digest:
            raise Conflict("this Idempotency-Key was already used for a different request")
        return Receipt(tuple(document["entry_ids"]), tuple(document["received_at"]), replayed=True)
