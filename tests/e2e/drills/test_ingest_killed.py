"""Drill: the ingest service SIGKILLed during a burst of HTTP pushes (MQTT flowing meanwhile)."""

from __future__ import annotations

import time

import pytest

from tests.support.drills import Load, check

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


def test_ingest_killed_during_a_burst_loses_and_doubles_nothing(drill):
    stack = drill.stack
    stack.start_ingest()
    stack.start_bridge()
    stack.start_worker(1, wait=True)
    with Load(
        stack.ingest_url, drill.dataset.id, drill.dataset.write_key, drill.token, drill.broker.port, http_per_s=200
    ) as load:
        stack.wait(load.running(http=200, mqtt=80), "burst running", load=load)
        stack.kill("ingest")
        stack.start_ingest()  # as the supervisor would; requests meanwhile fail and are not acknowledged
        fault_ended = time.monotonic()
        time.sleep(2.0)
    check("ingest SIGKILLed during a burst", load, drill.database_url, drill.dataset.id, fault_ended, stack)
