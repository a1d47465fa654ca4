"""paho-mqtt, unmodified, publishing on Ownstream's topics through a private broker to the bridge; and the AutoPi
sample uploads (tests/samples/autopi) posted to a real server as the dongle posts them."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import data_rows
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.worker import drain

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "autopi"


def publish(port: int, messages: list[tuple[str, bytes | str]], protocol: mqtt.MQTTProtocolVersion) -> None:
    """Publish at QoS 1 as a device would, and wait for every PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
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
    wait_for(lambda: mqtt_bridge.metrics.value(mqtt_bridge.metrics.acked) >= 5, timeout=15, what="5 messages")
    drain(settings)
    rows = client.get(
        f"/api/v1/datasets/{dataset.id}/data",
        params={"key": dataset.read_key, "start": "2000-01-01T00:00:00Z", "limit": 100},
    ).json()["rows"]
    found = {(r["variable"], r["value"]) for r in rows}
    assert {
        ("field1", 1.5),
        ("field2", 2),
        ("field2", 3),
        ("engine.rpm", 900),
        ("obd.bat.voltage", 15.4),
        ("weather.temperature", 30.5),
    } <= found


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
