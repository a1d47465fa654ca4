"""A message without its own time, delivered again, is stored once: after a bridge crash, or resent by the device."""

from __future__ import annotations

import socket

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.ingest.mqtt import Bridge
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import client, publish_all, start_bridge
from tests.support.worker import drain


def stored(settings, dataset_id: int) -> tuple[int, int]:
    """(readings, distinct values) of the dataset."""
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select count(*), count(distinct coalesce(r.v_int::float, r.v_num)) from readings r "
            "join series s on s.id = r.series_id where s.dataset_id = %s",
            (dataset_id,),
        ).fetchone()


def timeless(token: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"devices/{token}/telemetry", orjson.dumps({"temperature": i})) for i in range(count)]


def test_messages_queued_but_never_acknowledged_are_stored_once_after_the_bridge_dies(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    doomed = Bridge(broker.settings, client_id="bridge-a")
    doomed.pump.acknowledge = lambda batch: None  # it dies after queueing, before any PUBACK
    doomed.start()
    try:
        wait_for(doomed.subscribed.is_set, timeout=15, what="bridge subscribed")
        publish_all(broker.port, timeless(token, 400))
        wait_for(lambda: doomed.metrics.enqueued._value.get() >= 400, timeout=30, what="400 queued")
    finally:
        doomed.client.loop_stop()
        doomed.client.socket().shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker keeps all 400 in flight
        doomed.pump.stop()
    drain(settings)
    assert stored(settings, dataset.id) == (400, 400)

    second = start_bridge(broker, tmp_path, "bridge-a")  # same session: the broker redelivers all 400, DUP set
    try:
        wait_for(lambda: second.metric("ownstream_mqtt_acked_total") >= 400, timeout=60, what="400 redelivered")
    finally:
        second.stop()
    drain(settings)
    assert stored(settings, dataset.id) == (400, 400)


def publish_with_id(port: int, topic: str, payload: bytes, message_id: str | None) -> None:
    device = client(port)
    try:
        properties = Properties(PacketTypes.PUBLISH)
        if message_id is not None:
            properties.UserProperty = ("message-id", message_id)
        device.publish(topic, payload, qos=1, properties=properties).wait_for_publish(5)
    finally:
        device.disconnect()
        device.loop_stop()


def test_a_device_resending_with_the_same_message_id_is_stored_once(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridge = start_bridge(broker, tmp_path, "bridge-ids")
    topic = f"devices/{token}/telemetry"
    try:
        for message_id, value in (("m-1", 1), ("m-1", 1), ("m-1", 1), ("m-2", 2), (None, 3)):
            publish_with_id(broker.port, topic, orjson.dumps({"temperature": value}), message_id)
        wait_for(lambda: bridge.metric("ownstream_mqtt_acked_total") >= 5, timeout=30, what="5 acks")
    finally:
        bridge.stop()
    drain(settings)
    assert stored(settings, dataset.id) == (3, 3)  # m-1 once, m-2, and the message without an id


def test_message_ids_come_from_the_v5_user_property_only():
    from services.ingest.mqtt_identity import message_id

    assert message_id([("message-id", "abc")]) == "abc"
    assert message_id([("other", "x"), ("message-id", "b")]) == "b"
    assert message_id(None) is None and message_id([]) is None
    assert message_id([("message-id", "")]) is None and message_id([("message-id", "x" * 129)]) is None
    assert mqtt.MQTTv5 == 5  # the property exists only in MQTT v5; v3 devices rely on the broker's identity
