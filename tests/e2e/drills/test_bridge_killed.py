"""Drill: the MQTT bridge SIGKILLed during a QoS 1 stream of readings without their own time or message id."""

from __future__ import annotations

import time

import pytest

from tests.support.drills import Load, check

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


def test_bridge_killed_during_a_qos1_stream_loses_and_doubles_nothing(drill):
    stack = drill.stack
    stack.start_ingest()
    stack.start_bridge()
    stack.start_worker(1, wait=True)
    with Load(
        stack.ingest_url,
        drill.dataset.id,
        drill.dataset.write_key,
        drill.token,
        drill.broker.port,
        mqtt_per_s=300,
        message_ids=False,
    ) as load:
        stack.wait(load.running(http=40, mqtt=300), "stream running", load=load)
        stack.kill("bridge")
        stack.start_bridge()  # same client id: the broker redelivers what it never got a PUBACK for
        fault_ended = time.monotonic()
        time.sleep(2.0)
    check("bridge SIGKILLed during a QoS 1 stream", load, drill.database_url, drill.dataset.id, fault_ended, stack)
