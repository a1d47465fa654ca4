"""The drills' load generator itself: it keeps counting PUBACKs at any rate, and a sender that dies says why."""

from __future__ import annotations

import pytest

from tests.support.drills import Load
from tests.support.services import free_port

pytestmark = [pytest.mark.e2e]


def test_the_mqtt_sender_counts_every_puback_at_a_high_rate(drill):
    """Publishing while PUBACKs arrive must never stall the stream.

    The load once held its own lock around paho's publish() while paho's network thread held its message lock
    around on_publish, which took the same lock: both threads stopped, and a drill waited in vain for "stream
    running" (at 300 messages/s under load it happened now and then; flat out within a second).
    """
    nowhere = f"http://127.0.0.1:{free_port()}"  # HTTP is refused at once: only MQTT is under test here
    with Load(
        nowhere, drill.dataset.id, drill.dataset.write_key, drill.token, drill.broker.port, mqtt_per_s=20000
    ) as load:
        drill.stack.wait(load.running(http=-1, mqtt=6000), "6,000 PUBACKs", timeout=60, load=load)
    assert not load.failures
    assert load.mqtt.acked == load.mqtt.sent, load.status()  # after stop(), every PUBACK was counted
    assert load.refused["ConnectError"] == len(load.http.sent)


def test_a_sender_that_dies_fails_the_wait_with_its_traceback(drill):
    closed = free_port()  # no broker here: the MQTT sender's connect raises
    load = Load(drill.stack.ingest_url, drill.dataset.id, drill.dataset.write_key, drill.token, closed)
    with load, pytest.raises(AssertionError) as failure:
        drill.stack.wait(load.running(http=-1, mqtt=0), "load running", timeout=30, load=load)
    message = str(failure.value)
    assert "a load sender died" in message and "ConnectionRefusedError" in message
    assert "mqtt ended" in message and "http alive" in message  # the load's status is part of the diagnosis
    assert "queue: queued 0" in message  # and the queue's state
