"""Receipt times a redelivery reproduces, for MQTT messages that carry no time of their own.

A reading without its own time is stamped with the time the bridge received it. A redelivered message (the
bridge died after queueing it but before its PUBACK, or the device resent it) would get a new time and be
stored twice. Two identities let the bridge give it the first time again:

- a message id the device puts in an MQTT v5 user property (`message-id`): the first receipt time of that
  id on that topic is kept in Redis for `OWNSTREAM_MQTT_MESSAGE_ID_TTL_S`, and every later copy gets it;
- without one, the broker's own identity of a redelivery: the same packet id, the DUP flag, the same topic
  and payload, on the bridge's persistent session. Each QoS 1 message's time is kept under its packet id
  (a Redis hash per bridge client id, at most 65,535 fields) until that id is reused by a later message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from redis import Redis

if TYPE_CHECKING:
    from services.ingest.mqtt_pump import Received

MESSAGE_ID_PROPERTY = "message-id"
MAX_MESSAGE_ID = 128  # characters; a longer id is not an identity we keep


def message_id(user_properties: Sequence[tuple[str, str]] | None) -> str | None:
    """The device's own id for a message, from its MQTT v5 user properties."""
    for name, value in user_properties or ():
        if name == MESSAGE_ID_PROPERTY and 0 < len(value) <= MAX_MESSAGE_ID:
            return value
    return None


def _digest(topic: str, payload: bytes) -> str:
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=12).hexdigest()


class ReceiptTimes:
    """Replaces each message's receipt time by the one its first delivery got, where Redis remembers it."""

    def __init__(self, redis: Redis, namespace: str, client_id: str, id_ttl_s: int, inflight_ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.inflight_key = f"{namespace}:mqtt:inflight:{client_id}"
        self.id_ttl_s = id_ttl_s
        self.inflight_ttl_s = inflight_ttl_s

    def _id_key(self, item: Received) -> str:
        topic = hashlib.blake2b(item.topic.encode(), digest_size=12).hexdigest()
        return f"{self.namespace}:mqtt:msgid:{topic}:{item.message_id}"

    def settle(self, batch: list[Received]) -> list[Received]:
        """The batch with reproducible receipt times (two Redis round trips at most, none without QoS 1)."""
        with_id = [n for n, item in enumerate(batch) if item.message_id is not None]
        tracked = [n for n, item in enumerate(batch) if item.message_id is None and item.qos > 0]
        if not with_id and not tracked:
            return batch
        redelivered = [n for n in tracked if batch[n].dup]
        stored: dict[int, float | tuple[str, float]] = {}  # index -> first time (ids) or (digest, time) (dups)
        if with_id or redelivered:
            with self.redis.pipeline(transaction=False) as pipe:
                for n in with_id:
                    key = self._id_key(batch[n])
                    pipe.set(key, repr(batch[n].received_at), nx=True, ex=self.id_ttl_s)
                    pipe.get(key)
                if redelivered:
                    pipe.hmget(self.inflight_key, [str(batch[n].mid) for n in redelivered])
                replies = pipe.execute()
            for k, n in enumerate(with_id):
                stored[n] = float(replies[2 * k + 1])
            for n, known in zip(redelivered, replies[-1] if redelivered else (), strict=True):
                if known:
                    digest, _, stamp = known.decode().partition(" ")
                    stored[n] = (digest, float(stamp))
        settled = list(batch)
        seen: dict[int, tuple[str, float]] = {}  # packet id -> (digest, time) of this batch's latest message
        for n in sorted(with_id + tracked):
            item = batch[n]
            if item.message_id is not None:
                settled[n] = replace(item, received_at=stored[n])  # type: ignore[arg-type]
                continue
            digest = _digest(item.topic, item.payload)
            if item.dup:
                earlier = seen.get(item.mid) or stored.get(n)
                if isinstance(earlier, tuple) and earlier[0] == digest:
                    settled[n] = replace(item, received_at=earlier[1])
            seen[item.mid] = (digest, settled[n].received_at)
        if seen:  # later messages reuse packet ids: each field holds the last message of its id
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.inflight_key, mapping={str(mid): f"{d} {t!r}" for mid, (d, t) in seen.items()})
                pipe.expire(self.inflight_key, self.inflight_ttl_s)
                pipe.execute()
        return settled
