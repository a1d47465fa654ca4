"""Which MQTT client id each bridge process uses, held as a lease in Redis.

The broker keeps one persistent session per client id, and disconnects a client when another connects with the
same id. So each bridge takes an id no live bridge of this install holds: by default the lowest free slot of
`ownstream-bridge-<host>-<install>-<n>` (the same slot again after its own restart, so its session and the
messages queued in it are picked up), or the id it was given, refusing to start if a live bridge holds that.
`<install>` tells installs sharing one broker apart. The lease also tells `ownstream status` which bridges live.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from redis import Redis

from shared.config import Settings

log = logging.getLogger(__name__)

TTL_MS = 15_000
MAX_SLOTS = 256
# Refresh only our own lease: compare the value, then extend it.
_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class LeaseHeld(RuntimeError):
    """Another live bridge holds the client id asked for."""


def install_tag(settings: Settings) -> str:
    """A short tag of this install (its Redis and namespace), the same on every host of the install."""
    url = urlsplit(settings.redis_url)
    where = f"{url.hostname}:{url.port or 6379}{url.path or '/0'}|{settings.redis_namespace}"
    return hashlib.sha256(where.encode()).hexdigest()[:6]


def install_id(redis: Redis, settings: Settings) -> str:
    """A random id of this install, kept in its Redis: the same for every process of the install on every host,
    another for an install with its own Redis (or namespace). Raises RedisError when Redis is away."""
    key = f"{settings.redis_namespace}:install_id"
    redis.set(key, secrets.token_hex(8), nx=True)
    value = redis.get(key)
    return value.decode() if isinstance(value, bytes) else str(value)


def lease_key(settings: Settings, client_id: str) -> str:
    return f"{settings.redis_namespace}:bridge:{client_id}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class BridgeLease:
    """A held client id; `keep()` refreshes it from a thread until `release()`."""

    redis: Redis
    key: str
    client_id: str
    value: bytes
    lost: threading.Event
    _stop: threading.Event

    def keep(self) -> None:
        threading.Thread(target=self._refresh_loop, name="bridge-lease", daemon=True).start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(TTL_MS / 3000):
            try:
                if not self.redis.eval(_REFRESH, 1, self.key, self.value, TTL_MS):
                    log.error("client id %s was taken by another bridge; stopping", self.client_id)
                    self.lost.set()
                    return
            except Exception as error:  # Redis away: the lease lasts TTL_MS, the pump waits for Redis anyway
                log.warning("could not refresh the bridge lease: %s", error)

    def release(self) -> None:
        self._stop.set()
        try:
            self.redis.eval(_RELEASE, 1, self.key, self.value)
        except Exception as error:  # it expires by itself
            log.warning("could not release the bridge lease: %s", error)


def _holder(redis: Redis, key: str) -> dict | None:
    raw = redis.get(key)
    return orjson.loads(raw) if raw else None


def _take(redis: Redis, key: str, value: bytes, host: str) -> bool:
    """Take the lease when free, or when its holder was an earlier process of this host that has died."""
    if redis.set(key, value, nx=True, px=TTL_MS):
        return True
    holder = _holder(redis, key)
    if holder is None:
        return bool(redis.set(key, value, nx=True, px=TTL_MS))
    previous = holder.get("host") == host and (holder.get("pid") == os.getpid() or not _pid_alive(holder["pid"]))
    if not previous:
        return False
    with redis.pipeline() as pipe:  # compare-and-set: only if it is still that dead holder's value
        pipe.watch(key)
        if pipe.get(key) != orjson.dumps(holder):
            return False
        pipe.multi()
        pipe.set(key, value, px=TTL_MS)
        pipe.execute()
    return True


def acquire(redis: Redis, settings: Settings, client_id: str | None = None, broker: str = "") -> BridgeLease:
    """Hold `client_id` (LeaseHeld if a live bridge has it), or by default the lowest free slot of this host."""
    host = socket.gethostname()
    wanted = client_id or settings.mqtt_client_id
    candidates = (
        [wanted]
        if wanted
        else [f"ownstream-bridge-{host}-{install_tag(settings)}-{n}" for n in range(1, MAX_SLOTS + 1)]
    )
    for candidate in candidates:
        key = lease_key(settings, candidate)
        value = orjson.dumps(
            {"client_id": candidate, "host": host, "pid": os.getpid(), "broker": broker, "since": time.time()}
        )
        if _take(redis, key, value, host):
            return BridgeLease(redis, key, candidate, value, threading.Event(), threading.Event())
        if wanted:
            holder = _holder(redis, key) or {}
            raise LeaseHeld(
                f"MQTT client id {candidate!r} is held by a live bridge on {holder.get('host')} "
                f"(pid {holder.get('pid')}); two bridges with one id would take each other's session. "
                "Give this one another --client-id (or leave it out to get a free one)."
            )
    raise LeaseHeld(f"all {MAX_SLOTS} bridge client ids of this host are held")


def live_bridges(redis: Redis, settings: Settings) -> list[dict]:
    """The bridges holding a lease now: client id, host, pid, broker, since."""
    keys = sorted(redis.scan_iter(match=lease_key(settings, "*"), count=500))
    values = redis.mget(keys) if keys else []
    return [orjson.loads(v) for v in values if v]
