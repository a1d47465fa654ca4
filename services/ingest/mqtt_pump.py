"""The bridge's pump: received messages, in arrival order, go to Redis in batches and only then get their PUBACK.

paho calls on_message on its network thread; the pump runs on its own thread so that a slow or absent Redis
never stalls the network loop (pings, and PUBACKs of earlier batches, keep flowing). MQTT wants PUBACKs in the
order the PUBLISHes arrived: the pump takes messages first-in first-out and acknowledges each batch in order,
after the whole batch is in Redis. While Redis or PostgreSQL is away nothing is acknowledged: the batch is
retried with backoff and the broker, seeing no acknowledgements, stops sending once Receive Maximum is reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from queue import Empty, SimpleQueue

import psycopg
import psycopg_pool
from redis.exceptions import RedisError

from services.ingest.mqtt_dispatch import Dispatcher, Outcome
from services.ingest.mqtt_metrics import BridgeMetrics
from services.ingest.topics import redact
from shared.config import Settings
from shared.queue import QueueMessage

log = logging.getLogger(__name__)

# Failures that pass by themselves: retry the batch, acknowledge nothing meanwhile.
TRANSIENT = (RedisError, psycopg.OperationalError, psycopg_pool.PoolTimeout)
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as it came off the wire, with the connection it came on."""

    generation: int  # which connection delivered it: a PUBACK is only valid on that connection
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: float
    dup: bool = False  # the broker says it sent this one before (a redelivery after a lost PUBACK)
    message_id: str | None = None  # the device's own id for it (MQTT v5 user property `message-id`)


class Pump:
    """Batches received messages into one enqueue each (bounded by count and by a few ms), then acks them."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        enqueue: Callable[[list[QueueMessage]], object],
        acknowledge: Callable[[list[Received]], None],
        metrics: BridgeMetrics,
        settle: Callable[[list[Received]], list[Received]] | None = None,
        room: Callable[[Callable[[float], bool]], bool] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.settle = settle or (lambda batch: batch)
        # Blocks while the queue's backlog is at its limit (False if stopping meanwhile): the batch waits with
        # its PUBACKs held, and the broker stops sending once Receive Maximum messages are unacknowledged.
        self.room = room
        self.enqueue = enqueue
        self.acknowledge = acknowledge
        self.metrics = metrics
        self.batch_max = settings.mqtt_batch_max
        self.batch_wait_s = settings.mqtt_batch_wait_ms / 1000
        self.inbox: SimpleQueue[Received] = SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-pump", daemon=True)

    def put(self, item: Received) -> None:
        self.inbox.put(item)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch under way; messages not yet acknowledged stay with the broker."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._process(batch)

    def _collect(self) -> list[Received]:
        try:
            first = self.inbox.get(timeout=0.2)
        except Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait())
            except Empty:
                break
        return batch

    def _process(self, batch: list[Received]) -> None:
        delay = RETRY_FIRST_S
        # The batch is settled once and each message dispatched once, however often the batch is retried: settling's
        # answers are final, and dispatching charges the key's rate limit (a batch retried through an outage of
        # PostgreSQL or Redis spent a device's budget once per attempt, its messages then dropped as over the rate).
        settled: list[Received] | None = None
        outcomes: list[Outcome] = []  # of settled[:len(outcomes)]
        while True:
            try:
                if self.room is not None and not self.room(self._stop.wait):
                    return  # stopping: the broker redelivers what was not acknowledged
                if settled is None:
                    settled = self.settle(batch)
                while len(outcomes) < len(settled):
                    outcomes.append(self._dispatch(settled[len(outcomes)]))
                self.enqueue([o.message for o in outcomes if o.message is not None])
                break
            except TRANSIENT as error:
                self.metrics.retries.inc()
                log.warning(
                    "cannot enqueue %d messages (%s); retrying in %.1fs, nothing acknowledged", len(batch), error, delay
                )
                if self._stop.wait(delay):
                    return  # stopping: the broker redelivers what was not acknowledged
                delay = min(delay * 2, RETRY_MAX_S)
        self._count(outcomes)
        self.acknowledge(batch)

    def _dispatch(self, item: Received) -> Outcome:
        try:
            return self.dispatcher.dispatch(item.topic, item.payload, item.received_at)
        except TRANSIENT:
            raise
        except Exception:  # a bad message must not stop the bridge: consume it and say so
            log.exception("message on %r could not be handled; dropped", redact(item.topic))
            return Outcome(None, "dropped", "error")

    def _count(self, outcomes: list[Outcome]) -> None:
        m = self.metrics
        for outcome in outcomes:
            if outcome.verdict == "accepted":
                m.enqueued.inc()
            elif outcome.verdict == "rejected":
                m.rejected.labels(outcome.reason).inc()
            else:
                m.dropped.labels(outcome.reason).inc()
