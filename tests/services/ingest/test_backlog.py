"""At the backlog limit HTTP answers 503 with Retry-After and the MQTT bridge holds its PUBACKs, losing nothing."""

from __future__ import annotations

import httpx
import orjson

from services.ingest.mqtt import Bridge
from tests.support.db import entry_count, queued_jobs, reading_count
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import publish_all
from tests.support.processes import ownstream_process, served
from tests.support.worker import drain

LIMIT = 3


def test_http_refuses_at_the_backlog_limit_and_accepts_again_once_a_worker_drains(settings):
    dataset = make_dataset(settings)
    env = {"OWNSTREAM_QUEUE_MAX_BACKLOG": str(LIMIT), "OWNSTREAM_BACKLOG_RETRY_AFTER_S": "7"}
    acknowledged: list[int] = []
    with served("ingest", "/update", env=env) as url:

        def push(n: int) -> httpx.Response:
            return httpx.post(
                f"{url}/update",
                timeout=10,
                params={"api_key": dataset.write_key, "temperature": n, "created_at": f"2026-01-01T00:00:{n:02d}Z"},
            )

        refused = None
        for n in range(LIMIT + 5):  # no worker runs: one job per push piles up
            answer = push(n)
            if answer.status_code == 503:
                refused = answer
                break
            assert answer.status_code == 200, answer.text
            acknowledged.append(n)
        assert refused is not None and acknowledged == list(range(LIMIT))
        assert refused.headers["Retry-After"] == "7"
        assert refused.json()["error"] == "queue_full"
        assert queued_jobs(settings) == LIMIT  # the refused push queued nothing
        assert push(LIMIT).status_code == 503

        with ownstream_process("worker"):

            def accepted_again() -> bool:
                answer = push(len(acknowledged))
                assert answer.status_code in (200, 503), answer.text
                if answer.status_code == 200:
                    acknowledged.append(len(acknowledged))
                return answer.status_code == 200

            wait_for(accepted_again, timeout=60, interval=0.1, what="pushes accepted once the worker drained")
            wait_for(
                lambda: reading_count(settings, dataset.id) >= len(acknowledged),
                timeout=60,
                what="every acknowledged push stored",
            )
    assert reading_count(settings, dataset.id) == len(acknowledged) == LIMIT + 1
    assert entry_count(settings, dataset.id) == LIMIT + 1


def test_bridge_holds_pubacks_at_the_backlog_limit_until_the_queue_drains(settings, broker):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridge = Bridge(broker.settings.model_copy(update={"queue_max_backlog": 2}), client_id="backlog-bridge")
    metrics = bridge.metrics
    bridge.start()
    try:
        wait_for(bridge.subscribed.is_set, timeout=15, what="bridge subscribed")

        def publish(n: int) -> None:
            publish_all(
                broker.port,
                [
                    (
                        f"devices/{token}/telemetry",
                        orjson.dumps({"ts": 1_767_225_600_000 + n, "values": {"temperature": n}}),
                    )
                ],
            )

        for n in (0, 1):  # one job each: the queue reaches the limit
            publish(n)
            wait_for(lambda n=n: metrics.value(metrics.acked) == n + 1, timeout=15, what=f"PUBACK {n}")
        assert queued_jobs(settings) == 2
        for n in (2, 3, 4):
            publish(n)
        wait_for(
            lambda: metrics.registry.get_sample_value("ownstream_mqtt_backlog_held") == 1,
            timeout=15,
            what="PUBACKs held",
        )
        wait_for(lambda: metrics.value(metrics.received) == 5, timeout=15, what="all five received")
        assert metrics.value(metrics.acked) == 2 and queued_jobs(settings) == 2

        drain(settings)  # a worker empties the queue: the bridge enqueues and acknowledges the rest
        wait_for(lambda: metrics.value(metrics.acked) == 5, timeout=15, what="held PUBACKs sent")
        drain(settings)
    finally:
        bridge.stop()
    assert reading_count(settings, dataset.id) == 5
    assert metrics.registry.get_sample_value("ownstream_mqtt_backlog_held") == 0
