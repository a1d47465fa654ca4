"""Who is sending: write keys and device tokens resolved to a dataset, cached, revoked within a second.

Each receiver keeps resolved credentials in memory and polls one Redis counter (shared.keys.keys_version_key);
when it moves (a key regenerated, a token revoked, a variable added), or when Redis cannot be asked, the
cache is dropped and the next request reads the database again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal, cast

from psycopg_pool import ConnectionPool
from redis import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import Unauthorized
from shared.keys import hash_key, keys_version_key
from shared.thingspeak import field_variables

log = logging.getLogger(__name__)

LOOKUP = """
select k.dataset_id, k.kind, null from dataset_keys k where k.key_hash = %(h)s and k.revoked_at is null
union all
select d.dataset_id, 'device', d.device_id from devices d where d.token_hash = %(h)s and d.revoked_at is null
limit 1
"""
DEVICE_LOOKUP = """
select d.dataset_id, 'device', d.device_id from devices d
where d.dataset_id = %(dataset)s and d.device_id = %(device)s and d.revoked_at is null
"""
VARIABLES = "select tag, declared from variables where dataset_id = %s order by position, id"
ACCEPTS_NEW = "select accept_new_variables from datasets where id = %s"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a key grants: writing (and for devices, reading) one dataset."""

    dataset_id: int
    kind: Literal["write", "read", "device"]
    device: str | None
    variables: tuple[str, ...]  # the dataset's registered variables (their ids), in order
    accepts_new: bool = False  # the dataset registers unknown variables on first sight
    declared: tuple[str, ...] | None = None  # the owner's variables, in order (None: all of `variables`)
    known: frozenset[str] = field(init=False, compare=False)
    fields: dict[int, str] = field(init=False, compare=False)  # ThingSpeak's field number -> variable

    def __post_init__(self) -> None:
        declared = self.variables if self.declared is None else self.declared
        object.__setattr__(self, "known", frozenset(self.variables))
        object.__setattr__(self, "fields", field_variables(declared, self.known))

    @property
    def can_write(self) -> bool:
        return self.kind in ("write", "device")


def require_writer(credential: Credential | None, dataset_id: int | None = None) -> Credential:
    """The credential if it may write `dataset_id` (or any dataset when None); 401 otherwise."""
    if credential is None:
        raise Unauthorized("missing or invalid write key")
    if not credential.can_write:
        raise Unauthorized("this key cannot write; use the dataset's write key")
    if dataset_id is not None and credential.dataset_id != dataset_id:
        raise Unauthorized(f"this key does not write dataset {dataset_id}")
    return credential


_UNKNOWN = object()


class CredentialResolver:
    """Resolves keys to credentials with a process-wide cache invalidated through Redis."""

    def __init__(self, settings: Settings, redis: Redis, pool: ConnectionPool) -> None:
        self.settings = settings
        self.redis = redis
        self.pool = pool
        self._cache: dict[str | tuple[int, str], Credential | None] = {}
        self._version: bytes | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._poll_once()
        self._thread = threading.Thread(target=self._poll, name="credential-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def cached(self, key: str) -> Credential | object | None:
        """The cached credential for `key`, None if known to be invalid, or _UNKNOWN if not cached."""
        return self._cache.get(key, _UNKNOWN)

    def resolve(self, key: str) -> Credential | None:
        """The credential for `key` (None if no such key); reads the database on a cache miss."""
        return self._resolve(key, LOOKUP, {"h": hash_key(key)})

    def resolve_device(self, dataset_id: int, device_id: str) -> Credential | None:
        """The credential of a registered device named by the broker, not by a token (None if not registered)."""
        return self._resolve((dataset_id, device_id), DEVICE_LOOKUP, {"dataset": dataset_id, "device": device_id})

    def _resolve(self, cache_key: str | tuple[int, str], query: str, params: dict) -> Credential | None:
        hit = self._cache.get(cache_key, _UNKNOWN)
        if hit is not _UNKNOWN:
            return hit  # type: ignore[return-value]
        generation = self._generation
        credential = self._lookup(query, params)
        if generation == self._generation:  # no invalidation happened while we read: safe to cache
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[cache_key] = credential
        return credential

    def _lookup(self, query: str, params: dict) -> Credential | None:
        with self.pool.connection() as conn:
            row = conn.execute(query, params).fetchone()
            if row is None:
                return None
            dataset_id, kind, device = row
            variables = conn.execute(VARIABLES, (dataset_id,)).fetchall()
            accepts = conn.execute(ACCEPTS_NEW, (dataset_id,)).fetchone()
        return Credential(
            dataset_id,
            kind,
            device,
            tuple(variable for variable, _ in variables),
            accepts_new=bool(accepts and accepts[0]),
            declared=tuple(variable for variable, declared in variables if declared),
        )

    def invalidate(self) -> None:
        self._generation += 1
        self._cache = {}

    def _poll_once(self) -> None:
        try:
            version = cast(bytes | None, self.redis.get(keys_version_key(self.settings.redis_namespace)))
        except RedisError:
            self.invalidate()  # cannot hear about revocations: trust nothing cached
            self._version = None
            return
        if version != self._version:
            self._version = version
            self.invalidate()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.key_cache_poll_s):
            self._poll_once()


UNKNOWN = _UNKNOWN
