"""`ownstream mqtt` processes: killed mid-stream they lose nothing; two of them share the load, storing once."""

from __future__ import annotations

import threading

import orjson
import psycopg

from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import publish_all, start_bridge
from tests.support.worker import drain

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def telemetry(token: str, start: int, stop: int) -> list[tuple[str, bytes]]:
    """One reading per message, each at its own millisecond: a resend is recognisable as the same reading."""
    return [
        (f"devices/{token}/telemetry", orjson.dumps({"ts": BASE_MS + i, "values": {"temperature": i}}))
        for i in range(start, stop)
    ]


def stored(settings, dataset_id: int) -> tuple[int, int, int, int]:
    """(readings, distinct times, distinct values, the dataset's entry count)."""
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select count(*), count(distinct r.time), count(distinct r.v_int), max(d.entry_count)"
            " from readings r join series s on s.id = r.series_id join datasets d on d.id = s.dataset_id"
            " where s.dataset_id = %s",
            (dataset_id,),
        ).fetchone()


def all_stored(settings, dataset_id: int, count: int) -> bool:
    drain(settings)
    return stored(settings, dataset_id)[0] >= count


def test_bridge_killed_mid_stream_loses_nothing_and_stores_nothing_twice(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    first = start_bridge(broker, tmp_path, "bridge-a")
    publisher = threading.Thread(target=publish_all, args=(broker.port, telemetry(token, 0, 6000)))
    publisher.start()
    wait_for(lambda: first.metric("ownstream_mqtt_acked_total") >= 1000, timeout=60, what="first acks")
    first.kill()  # SIGKILL: whatever it had enqueued but not yet acknowledged is redelivered
    killed_after = first.log_path.read_text()
    publisher.join(120)
    assert not publisher.is_alive()
    publish_all(broker.port, telemetry(token, 6000, 10_000))  # while no bridge runs: waits in the broker
    second = start_bridge(broker, tmp_path, "bridge-a")  # same client id: resumes the persistent session
    try:
        wait_for(
            lambda: all_stored(settings, dataset.id, 10_000), timeout=120, interval=0.2, what="10,000 readings stored"
        )
        assert second.metric("ownstream_mqtt_acked_total") >= 4000
    finally:
        second.stop()
    drain(settings)
    assert stored(settings, dataset.id) == (10_000, 10_000, 10_000, 10_000)
    assert "Traceback" not in killed_after


def test_two_bridges_share_the_load_and_nothing_is_stored_twice(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridges = [start_bridge(broker, tmp_path, "bridge-a"), start_bridge(broker, tmp_path, "bridge-b")]
    try:
        publish_all(broker.port, telemetry(token, 0, 4000))
        wait_for(
            lambda: sum(b.metric("ownstream_mqtt_acked_total") for b in bridges) >= 4000, timeout=60, what="4,000 acks"
        )
        acked = [b.metric("ownstream_mqtt_acked_total") for b in bridges]
        received = [b.metric("ownstream_mqtt_received_total") for b in bridges]
    finally:
        for bridge in bridges:
            bridge.stop()
    assert all(count > 0 for count in acked), acked
    assert sum(received) == 4000, received  # each message went to exactly one bridge
    wait_for(lambda: all_stored(settings, dataset.id, 4000), timeout=60, interval=0.2, what="4,000 readings")
    assert stored(settings, dataset.id) == (4000, 4000, 4000, 4000)
