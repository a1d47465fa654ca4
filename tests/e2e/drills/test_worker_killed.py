"""Drill: a worker SIGKILLed mid-batch five times under HTTP and MQTT load."""

from __future__ import annotations

import time

import pytest

from tests.support.drills import Load, check

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


def test_worker_killed_five_times_loses_and_doubles_nothing(drill):
    stack = drill.stack
    stack.start_ingest()
    stack.start_bridge()
    stack.start_worker(1, wait=True)
    stack.start_worker(2)
    with Load(stack.ingest_url, drill.dataset.id, drill.dataset.write_key, drill.token, drill.broker.port) as load:
        stack.wait(load.running(http=40, mqtt=80), "load running", load=load)
        for _ in range(5):
            stack.wait(lambda: stack.alive("worker-1"), "worker running", timeout=10)
            time.sleep(1.0)  # let it take a batch: the kill lands mid-batch under this load
            stack.kill("worker-1")
            stack.start_worker(1)  # as `ownstream up`'s supervisor or compose would
        fault_ended = time.monotonic()
        time.sleep(2.0)
    check("worker SIGKILLed five times", load, drill.database_url, drill.dataset.id, fault_ended, stack)
