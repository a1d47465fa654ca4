"""Redis away: the bridge acknowledges nothing, keeps the messages with the broker, and resumes by itself."""

from __future__ import annotations

import orjson
import psycopg
import pytest

from services.ingest.mqtt import Bridge
from tests.support.drills import PrivateRedis
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import publish_all
from tests.support.worker import drain

BASE_MS = 1_767_225_600_000


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")  # started; kill() and start() again on the same port
    yield server
    server.kill()


def messages(token: str, start: int, stop: int) -> list[tuple[str, bytes]]:
    return [
        (f"devices/{token}/telemetry", orjson.dumps({"ts": BASE_MS + i, "values": {"temperature": i}}))
        for i in range(start, stop)
    ]


def test_redis_outage_holds_acks_and_the_bridge_resumes(settings, broker, private_redis):
    local = broker.settings.model_copy(update={"redis_url": private_redis.url})
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridge = Bridge(local, client_id="outage")
    bridge.start()
    try:
        wait_for(bridge.subscribed.is_set, timeout=15, what="subscribed")
        m = bridge.metrics
        publish_all(broker.port, messages(token, 0, 100))
        wait_for(lambda: m.value(m.acked) == 100, what="first acks")

        private_redis.kill()
        publish_all(broker.port, messages(token, 100, 300))
        wait_for(lambda: m.value(m.retries) >= 2, timeout=15, what="enqueue retries")
        assert m.value(m.acked) == 100  # nothing acknowledged while Redis is away
        assert bridge.client.is_connected()  # the network loop goes on (pings) while the pump waits

        private_redis.start()
        wait_for(lambda: m.value(m.acked) == 300, timeout=30, what="acks after Redis returned")
    finally:
        bridge.stop()
    drain(local)
    with psycopg.connect(settings.database_url) as conn:
        count, distinct = conn.execute("select count(*), count(distinct time) from readings").fetchone()
    assert (count, distinct) == (300, 300)


def test_broker_restart_the_bridge_reconnects_and_subscribes_again(settings, broker, bridge):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    m = bridge.metrics
    publish_all(broker.port, messages(token, 0, 50))
    wait_for(lambda: m.value(m.acked) == 50, what="acks before the restart")
    broker.stop()  # a clean stop saves sessions and queues (persistence on)
    wait_for(lambda: not bridge.client.is_connected(), what="bridge notices")
    broker.start()
    # Mosquitto 2.0.11 does not restore $share subscriptions from its persistence file: until the bridge has
    # subscribed again, nothing would take these messages (deploy/mosquitto/README.md).
    wait_for(bridge.subscribed.is_set, timeout=30, what="subscribed again")
    publish_all(broker.port, messages(token, 50, 120))
    wait_for(lambda: m.value(m.acked) >= 120, timeout=30, what="acks after the restart")
    drain(settings)
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("select count(*), count(distinct time) from readings").fetchone() == (120, 120)
