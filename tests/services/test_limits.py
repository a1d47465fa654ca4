"""Per-caller read cost limit (API) and per-key ingest rate limit (receivers): 429 with Retry-After."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from services.ingest.credentials import Credential
from services.ingest.rate_limit import KeyRateLimit
from shared.errors import RateLimited
from tests.support.db import reading_count
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.mqtt import publish_all, start_bridge, start_broker
from tests.support.processes import served
from tests.support.services import free_port
from tests.support.worker import drain


@pytest.fixture
def limited(settings):
    from services.combined import create_app

    tight = settings.model_copy(
        update={"read_cost_ms_per_minute": 1, "ingest_rate_per_key": 1.0, "ingest_burst_per_key": 2.0}
    )
    with TestClient(create_app(tight)) as test_client:
        yield test_client


def test_a_caller_over_its_read_budget_gets_429_and_others_still_read(limited, settings):
    dataset = make_dataset(settings, public=True)
    other = make_dataset(settings, name="Other")
    path = f"/api/v1/datasets/{dataset.id}/data"
    assert limited.get(path, params={"key": dataset.read_key}).status_code == 200  # within budget, then charged
    refused = limited.get(path, params={"key": dataset.read_key})
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"] == "rate_limited" and "server time" in refused.json()["detail"]
    assert limited.get(f"/channels/{dataset.id}/feeds.json", params={"key": dataset.read_key}).status_code == 429
    # another caller (another key) has a budget of its own
    assert limited.get(f"/api/v1/datasets/{other.id}/data", params={"key": other.read_key}).status_code == 200


def test_the_default_read_budget_lets_ordinary_reads_through(client, settings):
    dataset = make_dataset(settings)
    for _ in range(30):
        assert client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).status_code == 200


def test_ingest_rate_limit_per_key_refuses_with_429_and_stores_nothing_over_it(limited, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    other = make_dataset(settings, name="Other", variables=("temperature",))
    answers = [limited.get("/update", params={"key": dataset.write_key, "temperature": str(i)}) for i in range(4)]
    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:], statuses  # a burst of 2, then 1 per second
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["error"] == "rate_limited"
    assert limited.get("/update", params={"key": other.write_key, "temperature": "1"}).status_code == 200
    assert limited.get("/update", params={"key": "0" * 40, "temperature": "1"}).status_code == 401  # not counted
    drain(settings)
    assert reading_count(settings, dataset.id) == statuses.count(200)


def test_ingest_rate_limit_is_off_by_default(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    for i in range(20):
        assert client.get("/update", params={"key": dataset.write_key, "temperature": str(i)}).status_code == 200


def test_the_ingest_rate_holds_across_ingest_processes_and_the_bridge(settings, tmp_path):
    """One allowance per key in Redis: two `serve ingest` processes and a bridge spend from the same bucket."""
    dataset = make_dataset(settings, variables=("temperature",))
    other = make_dataset(settings, name="Other", variables=("temperature",))
    # 3 at once, then one every 100 s: nothing refills while the test runs, however slow the machine
    slow = {"OWNSTREAM_INGEST_RATE_PER_KEY": "0.01", "OWNSTREAM_INGEST_BURST_PER_KEY": "3"}
    broker = start_broker(tmp_path / "mosquitto", settings)
    try:
        with served("ingest", "/update", env=slow) as one, served("ingest", "/update", env=slow) as two:
            bridge = start_bridge(broker, tmp_path, "limited-bridge", env=slow)
            try:

                def push(url: str, key: str, value: int) -> httpx.Response:
                    return httpx.get(f"{url}/update", params={"key": key, "temperature": str(value)}, timeout=10)

                assert [push(url, dataset.write_key, i).status_code for i, url in enumerate((one, two, one))] == [
                    200,
                    200,
                    200,
                ]
                for url in (two, one):  # the burst is spent, whichever process is asked
                    refused = push(url, dataset.write_key, 9)
                    assert refused.status_code == 429, refused.text
                    assert 1 <= int(refused.headers["Retry-After"]) <= 100
                    assert refused.json()["error"] == "rate_limited"
                assert push(two, other.write_key, 1).status_code == 200  # another key has its own allowance

                # over MQTT through the bridge: the same key's allowance is spent, so the message is dropped
                publish_all(broker.port, [(f"channels/{dataset.id}/publish/{dataset.write_key}", "temperature=7")])
                publish_all(broker.port, [(f"channels/{other.id}/publish/{other.write_key}", "temperature=8")])
                dropped = 'ownstream_mqtt_dropped_total{reason="rate_limited"}'
                wait_for(lambda: bridge.metric("ownstream_mqtt_enqueued_total") == 1, timeout=30, what="enqueued")
                assert bridge.metric(dropped) == 1
            finally:
                bridge.stop()
    finally:
        broker.stop()
    drain(settings)
    assert reading_count(settings, dataset.id) == 3  # the three within the burst, nothing over it
    assert reading_count(settings, other.id) == 2  # one over HTTP, one over MQTT


def test_the_bucket_refills_at_the_rate_on_redis_s_clock(settings):
    limit = KeyRateLimit(rate=1.0, burst=1.0, namespace=settings.redis_namespace)
    redis = Redis.from_url(settings.redis_url)
    key = Credential(dataset_id=1, kind="write", device=None, variables=())
    limit.take(redis, key)
    with pytest.raises(RateLimited) as refused:
        limit.take(redis, key)
    assert refused.value.headers == {"Retry-After": "1"}
    limit.take(redis, Credential(dataset_id=1, kind="device", device="car-1", variables=()))  # its own bucket
    started = time.monotonic()

    def taken() -> bool:
        try:
            limit.take(redis, key)
        except RateLimited:
            return False
        return True

    wait_for(taken, timeout=5, interval=0.02, what="a request allowed again")
    assert 0.5 <= time.monotonic() - started < 3.0  # refilled at 1 per second, not at once and not never
    assert not KeyRateLimit(rate=0).enabled


def test_the_limit_lets_requests_through_while_redis_is_unreachable():
    limit = KeyRateLimit(rate=1.0, burst=1.0)
    away = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    key = Credential(dataset_id=1, kind="write", device=None, variables=())
    for _ in range(3):
        limit.take(away, key)  # fail open: uncounted, never refused
