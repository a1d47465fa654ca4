"""The pump alone: acks follow the enqueue, in arrival order; failures hold acks; bad messages do not stop it."""

from __future__ import annotations

import threading

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.ingest.mqtt_dispatch import Outcome
from services.ingest.mqtt_metrics import BridgeMetrics
from services.ingest.mqtt_pump import Pump, Received
from shared.config import Settings
from shared.queue import make_message
from tests.support.http import wait_for


class Dispatcher:
    def __init__(self) -> None:
        self.calls: list[bytes] = []  # payloads, once per dispatch

    def dispatch(self, topic, payload, received_at):
        self.calls.append(payload)
        if topic == "boom":
            raise RuntimeError("a bug in handling this one message")
        return Outcome(make_message("push", 1, {"t": payload.decode()}, source="mqtt"), "accepted")


class Redis:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batches: list[list] = []
        self.lock = threading.Lock()

    def enqueue(self, messages):
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise RedisConnectionError("Redis is away")
            self.batches.append(messages)


@pytest.fixture
def parts():
    acks: list[int] = []
    redis = Redis(failures=0)
    metrics = BridgeMetrics()
    dispatcher = Dispatcher()
    pump = Pump(
        Settings(mqtt_batch_max=50, mqtt_batch_wait_ms=2),
        dispatcher,
        redis.enqueue,
        lambda batch: acks.extend(item.mid for item in batch),
        metrics,
    )
    pump.start()
    yield pump, redis, acks, metrics
    pump.stop()


def received(mid: int, topic: str = "t") -> Received:
    return Received(1, mid, 1, topic, str(mid).encode(), 0.0)


def test_acks_in_arrival_order_after_the_enqueue_in_batches(parts):
    pump, redis, acks, _ = parts
    for mid in range(1, 201):
        pump.put(received(mid))
    wait_for(lambda: len(acks) == 200)
    assert acks == list(range(1, 201))
    assert [m["payload"]["t"] for batch in redis.batches for m in batch] == [str(i) for i in range(1, 201)]
    assert all(len(batch) <= 50 for batch in redis.batches) and len(redis.batches) >= 4


def test_no_ack_while_redis_is_away_then_resume(parts):
    pump, redis, acks, metrics = parts
    redis.failures = 3
    pump.put(received(1))
    wait_for(lambda: metrics.value(metrics.retries) >= 2)
    assert acks == [] and redis.batches == []
    wait_for(lambda: acks == [1], timeout=5)
    assert len(redis.batches) == 1


def test_a_message_that_breaks_handling_is_consumed_and_counted(parts):
    pump, _, acks, metrics = parts
    for item in (received(1), received(2, "boom"), received(3)):
        pump.put(item)
    wait_for(lambda: len(acks) == 3)
    assert acks == [1, 2, 3]
    assert metrics.value(metrics.dropped, reason="error") == 1 and metrics.value(metrics.enqueued) == 2


def test_a_retried_batch_dispatches_each_message_once(parts):
    """Dispatching charges the key's rate limit: a batch retried through a Redis outage must not charge it again."""
    pump, redis, acks, metrics = parts
    redis.failures = 3
    for mid in (1, 2, 3):
        pump.put(received(mid))
    wait_for(lambda: acks == [1, 2, 3], timeout=5)
    assert metrics.value(metrics.retries) >= 1
    assert sorted(pump.dispatcher.calls) == [b"1", b"2", b"3"]
    assert [m["payload"]["t"] for batch in redis.batches for m in batch] == ["1", "2", "3"]
