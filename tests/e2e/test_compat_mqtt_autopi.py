"""paho-mqtt, unmodified, publishing on Ownstream's topics through a private broker to the bridge; and the AutoPi
sample uploads (tests/samples/autopi) posted to a real server as the dongle posts them."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import data_rows
from tests.support.factories import make_dataset, make_device, make_token
from tests.support.http import wait_for
from tests.support.worker import drain

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "autopi"


def publish(
    port: int, messages: list[tuple[str, bytes | str]], protocol: mqtt.MQTTProtocolVersion, qos: int = 1
) -> None:
    """Publish as a device would, and wait until each is sent (at QoS 1: until its PUBACK)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_publishes_on_every_topic_form(settings, client, private_broker, mqtt_bridge, protocol):
    dataset = make_dataset(settings, variables=("field1", "field2"), accept_new_variables=True)
    token = make_device(settings, dataset.id, "car-1")
    key = dataset.write_key
    publish(
        private_broker.port,
        [
            (f"channels/{dataset.id}/publish/{key}", "field1=1.5&field2=2&status=up"),
            (f"channels/{dataset.id}/publish/fields/field2/{key}", "3"),
            (f"devices/{token}/telemetry", orjson.dumps({"ts": 1772366400000, "values": {"engine": {"rpm": 900}}})),
            (f"devices/{token}/autopi", (SAMPLES / "obd_bat.json").read_bytes()),
            (f"datasets/{dataset.id}/influx/{key}", "weather,room=attic temperature=30.5 1772366400000000000"),
        ],
        protocol,
    )
    publish(private_broker.port, [(f"channels/{dataset.id}/publish/fields/field1/{key}", "4.5")], protocol, qos=0)
    wait_for(lambda: mqtt_bridge.metrics.value(mqtt_bridge.metrics.acked) >= 5, timeout=15, what="5 messages")

    def found() -> set:
        drain(settings)
        return {(r["variable"], r["value"]) for r in data_rows_of(client, dataset)}

    wait_for(lambda: ("field1", 4.5) in found(), timeout=15, what="the QoS 0 message stored")
    assert {
        ("field1", 1.5),
        ("field2", 2),
        ("field2", 3),
        ("engine.rpm", 900),
        ("obd.bat.voltage", 15.4),
        ("weather.temperature", 30.5),
    } <= found()


def test_new_variables_over_mqtt_follow_the_dataset_rule_for_device_tokens_and_dataset_keys(
    settings, client, private_broker, mqtt_bridge
):
    """The rule of HTTP (tests/services/test_new_variables.py) through a real broker and bridge: off, a message
    with a new variable is refused and recorded with a reason naming it, whatever the topic and credential; on,
    the same messages register their variables. Telemetry takes the dataset's write key as well as a device token."""
    dataset = make_dataset(settings, variables=("temperature",))  # declared variables: the rule starts off
    token, key = make_device(settings, dataset.id, "car-1"), dataset.write_key
    messages = [
        (f"devices/{token}/telemetry", orjson.dumps({"ts": 1772366400000, "values": {"humidity": 40}})),
        (f"devices/{key}/telemetry", orjson.dumps({"ts": 1772366400000, "values": {"pressure": 1013}})),
        (f"devices/{token}/autopi", b'[{"@t": "obd.bat", "@ts": "2026-03-01T12:00:00Z", "voltage": 12.5}]'),
        (f"channels/{dataset.id}/publish/{key}", "wind=3"),
        (f"channels/{dataset.id}/publish/fields/field2/{key}", "4"),
        (f"datasets/{dataset.id}/influx/{key}", "weather rain=1 1772366400000000000"),
    ]
    known = (f"devices/{token}/telemetry", orjson.dumps({"ts": 1772366400000, "values": {"temperature": 20}}))
    publish(private_broker.port, [*messages, known], mqtt.MQTTv311)
    wait_for(lambda: mqtt_bridge.metrics.value(mqtt_bridge.metrics.acked) >= 7, timeout=15, what="7 messages")
    drain(settings)
    read = {"key": dataset.read_key}
    reasons = [
        r["reason"] for r in client.get(f"/api/v1/datasets/{dataset.id}/rejected", params=read).json()["records"]
    ]
    for variable in ("'humidity'", "'pressure'", "'obd.bat.voltage'", "'wind'", "field2", "'weather.rain'"):
        assert [reason for reason in reasons if variable in reason], (variable, reasons)
    assert len(reasons) == 6, reasons
    described = client.get(f"/api/v1/datasets/{dataset.id}", params=read).json()
    assert [v["tag"] for v in described["variables"]] == ["temperature"]  # nothing registered
    assert [(r["variable"], r["value"]) for r in data_rows_of(client, dataset)] == [("temperature", 20)]

    owner = {"Authorization": f"Bearer {make_token(settings)}"}
    opened = client.patch(f"/api/v1/datasets/{dataset.id}", json={"accept_new_variables": True}, headers=owner)
    assert opened.status_code == 200, opened.text
    wait_for(lambda: mqtt_bridge.credentials.resolve(key).accepts_new, timeout=5, what="the bridge sees the change")
    wait_for(lambda: mqtt_bridge.credentials.resolve(token).accepts_new, timeout=5, what="for the device too")
    publish(private_broker.port, messages, mqtt.MQTTv311)
    wait_for(lambda: mqtt_bridge.metrics.value(mqtt_bridge.metrics.acked) >= 13, timeout=15, what="6 more messages")
    drain(settings)
    assert len(client.get(f"/api/v1/datasets/{dataset.id}/rejected", params=read).json()["records"]) == 6  # no new
    assert {(r["variable"], r["value"]) for r in data_rows_of(client, dataset)} == {
        ("temperature", 20),
        ("humidity", 40),
        ("pressure", 1013),
        ("obd.bat.voltage", 12.5),
        ("wind", 3),
        ("field2", 4),
        ("weather.rain", 1),
    }


def data_rows_of(client, dataset) -> list[dict]:
    params = {"key": dataset.read_key, "start": "2000-01-01T00:00:00Z", "limit": 100}
    return client.get(f"/api/v1/datasets/{dataset.id}/data", params=params).json()["rows"]


def test_autopi_sample_uploads(ownstream_url, settings):
    import httpx

    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id, "car-1")
    for sample in sorted(SAMPLES.glob("*.json")):
        response = httpx.post(
            f"{ownstream_url}/autopi",
            content=gzip.compress(sample.read_bytes()),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        assert response.status_code == 200, (sample.name, response.text)
    drain(settings)
    rows = data_rows(ownstream_url, dataset.id, dataset.read_key, start="2000-01-01T00:00:00Z", limit=10_000)
    variables = {r["variable"] for r in rows}
    assert {"obd.bat.voltage", "obd.bat.state", "track.pos.loc.lat", "track.pos.loc.lon"} <= variables
    assert all(r["device"] == "car-1" for r in rows)
    events = httpx.get(f"{ownstream_url}/api/v1/datasets/{dataset.id}/events", params={"key": dataset.read_key})
    assert {"event.system.power", "event.system.minion"} <= {e["type"] for e in events.json()["events"]}
    rejected = httpx.get(f"{ownstream_url}/api/v1/datasets/{dataset.id}/rejected", params={"key": dataset.read_key})
    assert rejected.json()["records"] == []
