"""Each MQTT topic form travels broker → bridge → Redis → worker → PostgreSQL and is readable over the API."""

from __future__ import annotations

import orjson
import psycopg

from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import client, publish_all
from tests.support.worker import drain

SAMPLES = "/work/shared/samples/autopi"


def handled(bridge, count: int) -> None:
    """Wait until the bridge has acknowledged `count` messages (each is enqueued or recorded by then)."""
    wait_for(lambda: bridge.metrics.value(bridge.metrics.acked) >= count, timeout=15, what=f"{count} acks")


def rows_of(client, dataset, **params):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def rejected(settings, dataset_id: int) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select source, format, reason, raw from rejected_records where dataset_id = %s order by id", (dataset_id,)
        ).fetchall()


def test_thingspeak_publish_with_fields_tags_and_created_at(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("field1", "field2", "temperature"))
    publish_all(
        broker.port,
        [
            (
                f"channels/{dataset.id}/publish/{dataset.write_key}",
                "field1=21.5&temperature=-3&created_at=2026-01-02T03:04:05Z",
            ),
        ],
    )
    handled(bridge, 1)
    drain(settings)
    assert rows_of(client, dataset) == [
        {"time": "2026-01-02T03:04:05Z", "variable": "field1", "value": 21.5},
        {"time": "2026-01-02T03:04:05Z", "variable": "temperature", "value": -3},
    ]


def test_single_field_publish_is_one_raw_value(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("field1", "field2"))
    publish_all(broker.port, [(f"channels/{dataset.id}/publish/fields/field2/{dataset.write_key}", "45")])
    handled(bridge, 1)
    drain(settings)
    [row] = rows_of(client, dataset)
    assert (row["variable"], row["value"]) == ("field2", 45)
    publish_all(broker.port, [(f"channels/{dataset.id}/publish/{dataset.write_key}", "field1=1")])
    handled(bridge, 2)
    drain(settings)
    feeds = client.get(f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key}).json()
    assert [feed["entry_id"] for feed in feeds["feeds"]] == [1, 2]  # MQTT pushes number entries as HTTP does


def test_telemetry_shapes_of_a_device(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("temperature", "humidity", "loc.lat"))
    token = make_device(settings, dataset.id, "car-1")
    topic = f"devices/{token}/telemetry"
    publish_all(
        broker.port,
        [
            (topic, orjson.dumps({"temperature": 20.5})),
            (topic, orjson.dumps({"ts": 1767225600000, "values": {"humidity": 40, "loc": {"lat": 48.1}}})),
            (
                topic,
                orjson.dumps(
                    [
                        {"ts": 1767225601000, "values": {"temperature": 21}},
                        {"ts": 1767225602500, "values": {"temperature": 22}},
                    ]
                ),
            ),
        ],
    )
    handled(bridge, 3)
    drain(settings)
    rows = rows_of(client, dataset, start="2026-01-01T00:00:00Z", end="2026-01-01T00:01:00Z")
    assert rows == [
        {"time": "2026-01-01T00:00:00Z", "variable": "humidity", "value": 40, "device": "car-1"},
        {"time": "2026-01-01T00:00:00Z", "variable": "loc.lat", "value": 48.1, "device": "car-1"},
        {"time": "2026-01-01T00:00:01Z", "variable": "temperature", "value": 21, "device": "car-1"},
        {"time": "2026-01-01T00:00:02.500000Z", "variable": "temperature", "value": 22, "device": "car-1"},
    ]
    received_now = rows_of(client, dataset, start="2026-06-01T00:00:00Z")
    assert [(r["variable"], r["value"], r["device"]) for r in received_now] == [("temperature", 20.5, "car-1")]


def test_autopi_array_of_a_device(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("voltage", "level", "state"), accept_new_variables=True)
    token = make_device(settings, dataset.id, "car-1")
    with open(f"{SAMPLES}/obd_bat.json", "rb") as sample:
        publish_all(broker.port, [(f"devices/{token}/autopi", sample.read())])
    handled(bridge, 1)
    drain(settings)
    rows = rows_of(client, dataset, start="2021-02-24T09:03:09Z", end="2021-02-24T09:03:10Z")
    moment = "2021-02-24T09:03:09.310362Z"
    assert rows == [
        {"time": moment, "variable": "obd.bat.level", "value": 100, "device": "car-1"},
        {"time": moment, "variable": "obd.bat.state", "value": "overcharging", "device": "car-1"},
        {"time": moment, "variable": "obd.bat.voltage", "value": 15.4, "device": "car-1"},
    ]
    assert rejected(settings, dataset.id) == []


def test_line_protocol_publish(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("temperature",), accept_new_variables=True)
    publish_all(
        broker.port,
        [
            (
                f"datasets/{dataset.id}/influx/{dataset.write_key}",
                "weather,room=kitchen temperature=21.5 1767225600000000000",
            )
        ],
    )
    handled(bridge, 1)
    drain(settings)
    rows = rows_of(client, dataset)
    assert rows == [
        {"time": "2026-01-01T00:00:00Z", "variable": "weather.temperature", "value": 21.5, "tags": {"room": "kitchen"}}
    ]
    assert rejected(settings, dataset.id) == []


def test_bad_payloads_and_keys_are_recorded_and_the_bridge_goes_on(client, settings, broker, bridge):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "car-1")
    publish_all(
        broker.port,
        [
            (f"devices/{token}/telemetry", b"{not json"),  # malformed: dataset known through the token
            (f"devices/{token}/telemetry", orjson.dumps({"pressure": 1013})),  # unregistered variable
            (f"channels/{dataset.id}/publish/wrong-key", "temperature=1"),  # wrong key, dataset named
            ("devices/not-a-token/telemetry", orjson.dumps({"temperature": 1})),  # nobody to record it for
            ("channels/abc/publish/key", "temperature=1"),  # no such form
            (f"devices/{token}/telemetry", orjson.dumps({"ts": 1767225600000, "values": {"temperature": 5}})),
        ],
    )
    handled(bridge, 6)
    drain(settings)
    assert [(r["variable"], r["value"]) for r in rows_of(client, dataset)] == [("temperature", 5)]
    records = rejected(settings, dataset.id)
    assert [(source, fmt) for source, fmt, _, _ in records] == [("mqtt", "telemetry")] * 2 + [("mqtt", "push")]
    assert "not JSON" in records[0][2] and records[0][3] == "{not json"
    assert "pressure" in records[1][2]
    # a wrong key is recorded, but what its sender wrote is not kept in someone else's dataset
    assert "key" in records[2][2] and records[2][3] == "(payload of 13 bytes not kept: the key was not valid)"
    assert dataset.write_key not in str(records) and token not in str(records)
    metrics = bridge.metrics
    assert metrics.value(metrics.rejected) == 3
    assert metrics.value(metrics.dropped, reason="unauthorized") == 1
    assert metrics.value(metrics.dropped, reason="bad_topic") == 1
    assert metrics.value(metrics.enqueued) == 1


def test_anonymous_subscriber_receives_nothing(settings, broker, bridge):
    dataset = make_dataset(settings, variables=("temperature",))
    spy = client(broker.port)
    heard = []
    spy.on_message = lambda c, u, message: heard.append(message.topic)
    granted = []
    spy.on_subscribe = lambda c, u, mid, codes, props: granted.extend(codes)
    spy.subscribe([("#", 1), ("$share/ownstream/channels/#", 1), ("channels/#", 1)])
    wait_for(lambda: len(granted) == 3, what="SUBACK")
    publish_all(
        broker.port, [(f"channels/{dataset.id}/publish/{dataset.write_key}", f"temperature={i}") for i in range(20)]
    )
    handled(bridge, 20)
    # a probe the spy would hear if it could hear anything: its own publish under its own topic
    spy.publish("channels/probe/publish/x", "1", qos=1).wait_for_publish(5)
    handled(bridge, 21)
    spy.disconnect()
    spy.loop_stop()
    assert heard == []
    drain(settings)
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("select entry_count from datasets where id = %s", (dataset.id,)).fetchone()[0] == 20
