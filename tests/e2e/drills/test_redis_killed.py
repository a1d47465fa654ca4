"""Drill: Redis SIGKILLed under HTTP and MQTT load and restarted with the shipped deploy/redis.conf (AOF)."""

from __future__ import annotations

import time

import pytest

from tests.support.drills import Load, check

pytestmark = [pytest.mark.e2e, pytest.mark.drill]


def test_redis_killed_and_restarted_loses_and_doubles_nothing(drill):
    stack = drill.stack
    stack.start_ingest()
    stack.start_bridge()
    stack.start_worker(1, wait=True)
    with Load(stack.ingest_url, drill.dataset.id, drill.dataset.write_key, drill.token, drill.broker.port) as load:
        stack.wait(load.running(http=40, mqtt=80), "load running", load=load)
        drill.redis.kill()
        time.sleep(3.0)  # the fault itself: Redis is away this long
        drill.redis.start()  # same port, same AOF directory
        fault_ended = time.monotonic()
        time.sleep(2.0)
    check("Redis SIGKILLed and restarted", load, drill.database_url, drill.dataset.id, fault_ended, stack)
