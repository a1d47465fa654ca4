"""Bridge client ids: unique per live bridge on a broker, stable across a bridge's own restart, refused when held."""

from __future__ import annotations

import os
import subprocess
import sys

from redis import Redis

from shared.bridge_lease import acquire, install_tag, live_bridges
from tests.services.ingest.test_mqtt_bridge_processes import all_stored, stored, telemetry
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import ROOT, BridgeProcess, publish_all
from tests.support.services import free_port


def default_bridge(broker, directory, name: str, env: dict[str, str] | None = None) -> BridgeProcess:
    """`ownstream mqtt` with no client id given, as a user would start it; returns once subscribed."""
    port = free_port()
    env = {**os.environ, "OWNSTREAM_MQTT_URL": broker.url, "OWNSTREAM_MQTT_METRICS_PORT": str(port), **(env or {})}
    env.pop("OWNSTREAM_MQTT_CLIENT_ID", None)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "mqtt"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    bridge = BridgeProcess(name, port, process, log_path)
    try:
        wait_for(bridge.subscribed, timeout=90, interval=0.05, what=f"{name} subscribed")
    except BaseException:
        bridge.stop()
        raise
    return bridge


def client_ids(settings) -> list[str]:
    return sorted(b["client_id"] for b in live_bridges(Redis.from_url(settings.redis_url), settings))


def test_two_default_bridges_on_one_host_both_stay_connected_and_share_the_load(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridges = [default_bridge(broker, tmp_path, "one"), default_bridge(broker, tmp_path, "two")]
    try:
        ids = client_ids(settings)
        assert len(ids) == 2 and ids[0] != ids[1]
        assert all(i.startswith("ownstream-bridge-") and install_tag(settings) in i for i in ids)
        messages = telemetry(token, 0, 4000)
        publish_all(broker.port, messages)
        wait_for(
            lambda: sum(b.metric("ownstream_mqtt_acked_total") for b in bridges) >= 4000, timeout=60, what="4,000 acks"
        )
        acked = [b.metric("ownstream_mqtt_acked_total") for b in bridges]
        received = sum(b.metric("ownstream_mqtt_received_total") for b in bridges)
        received_bytes = sum(b.metric("ownstream_mqtt_received_bytes_total") for b in bridges)
        reconnects = [b.metric("ownstream_mqtt_reconnects_total") for b in bridges]
        subscribed = [b.subscribed() for b in bridges]
    finally:
        for bridge in bridges:
            bridge.stop()
    assert all(count > 0 for count in acked), acked  # both got a share
    assert (received, received_bytes) == (4000, sum(len(payload) for _, payload in messages))
    assert reconnects == [0, 0] and subscribed == [True, True]  # neither pushed the other off the broker
    assert "Session taken over" not in broker.log()
    wait_for(lambda: all_stored(settings, dataset.id, 4000), timeout=60, interval=0.2, what="4,000 readings")
    assert stored(settings, dataset.id) == (4000, 4000, 4000, 4000)
    assert client_ids(settings) == []  # stopped bridges let go of their ids


def test_a_bridge_killed_and_restarted_gets_its_own_id_back(settings, broker, tmp_path):
    first, second = default_bridge(broker, tmp_path, "one"), default_bridge(broker, tmp_path, "two")
    try:
        before = client_ids(settings)
        first.kill()
        again = default_bridge(broker, tmp_path, "again")
        try:
            assert client_ids(settings) == before  # the same persistent session is resumed
        finally:
            again.stop()
    finally:
        second.stop()


def test_a_client_id_held_by_a_live_bridge_is_refused(settings, broker, tmp_path):
    redis = Redis.from_url(settings.redis_url)
    held = acquire(redis, settings, "bridge-x")
    held.keep()  # refreshed as a live bridge's lease is
    try:
        env = {**os.environ, "OWNSTREAM_MQTT_URL": broker.url}
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "mqtt", "--client-id", "bridge-x"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 2
        assert "held by a live bridge" in result.stderr
    finally:
        held.release()


def test_leases_are_per_install(settings):
    redis = Redis.from_url(settings.redis_url)
    mine = acquire(redis, settings)
    other_install = settings.model_copy(update={"redis_namespace": settings.redis_namespace + "-other"})
    theirs = acquire(redis, other_install)
    try:
        assert mine.client_id != theirs.client_id  # two installs on one broker never share an id
        assert mine.client_id.endswith("-1") and theirs.client_id.endswith("-1")
    finally:
        mine.release()
        theirs.release()


def test_two_installs_on_one_broker_each_get_all_their_messages(settings, broker, tmp_path):
    """Bridges of another install (its own Redis namespace and queue; same broker account) must not take a share
    of this install's messages: they would drop them as unknown keys."""
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    other = {
        "OWNSTREAM_REDIS_NAMESPACE": settings.redis_namespace + "-other",
        "OWNSTREAM_QUEUE_NAME": settings.queue_name + "-other",
    }
    bridges = [default_bridge(broker, tmp_path, "ours"), default_bridge(broker, tmp_path, "theirs", other)]
    try:
        ours = bridges[0]
        publish_all(broker.port, telemetry(token, 0, 2000))
        wait_for(lambda: ours.metric("ownstream_mqtt_acked_total") >= 2000, timeout=60, what="all 2,000 in our install")
        reconnects = [b.metric("ownstream_mqtt_reconnects_total") for b in bridges]
    finally:
        for bridge in bridges:
            bridge.stop()
    assert reconnects == [0, 0]
    wait_for(lambda: all_stored(settings, dataset.id, 2000), timeout=60, interval=0.2, what="2,000 readings")
    assert stored(settings, dataset.id) == (2000, 2000, 2000, 2000)
