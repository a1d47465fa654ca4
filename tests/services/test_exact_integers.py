"""Integers above 2^53 travel every protocol → Redis → worker → PostgreSQL and read back exact in every format."""

from __future__ import annotations

import csv
import io
import json

import orjson
import pytest

from services.ingest.mqtt import Bridge
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for
from tests.support.mqtt import publish_all, start_broker
from tests.support.worker import drain

BIG = 9007199254740993  # 2^53 + 1: the nearest double is 2^53
T = "2026-03-01T12:00:00Z"


def read_everything(client, dataset) -> dict[str, dict]:
    """The `big` readings as read in each format and by /latest: {format: {variable: value}}."""
    url = f"/api/v1/datasets/{dataset.id}/data"
    base = {"key": dataset.read_key}
    out = {"json": {r["variable"]: r["value"] for r in client.get(url, params=base).json()["rows"]}}
    columns = client.get(url, params={**base, "format": "columns"}).json()
    out["columns"] = {s["variable"]: v for s in columns["series"] for v in s["value"]}
    out["csv"] = {
        r["variable"]: int(r["value"])
        for r in csv.DictReader(io.StringIO(client.get(url, params={**base, "format": "csv"}).text))
    }
    out["ndjson"] = {
        r["variable"]: r["value"]
        for r in map(json.loads, client.get(url, params={**base, "format": "ndjson"}).text.splitlines())
    }
    out["latest"] = {
        s["variable"]: s["value"]
        for s in client.get(f"/api/v1/datasets/{dataset.id}/latest", params=base).json()["series"]
    }
    out["seed"] = {
        k: v["values"][0][0]
        for k, v in client.get(f"/datasets/{dataset.id}", params=base).json().items()
        if isinstance(v, dict) and v["values"]
    }
    return out


def test_http_protocols_keep_integers_exact(client, settings):
    dataset = make_dataset(settings, variables=("native",), accept_new_variables=True)  # line protocol adds m.line
    token = make_device(settings, dataset.id, "car1")
    write = {"X-Write-Key": dataset.write_key}
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        headers=write,
        content=orjson.dumps({"readings": [{"time": T, "values": {"native": BIG}}]}),
    )
    assert response.status_code == 202, response.text
    response = client.post(
        "/api/v2/write",
        params={"bucket": str(dataset.id), "org": "x", "precision": "s"},
        content=f"m line={BIG}i 1772366400",
        headers={"Authorization": f"Token {dataset.write_key}"},
    )
    assert response.status_code == 204, response.text
    response = client.post(
        "/autopi",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=f'[{{"@t": "obd.x", "@ts": "{T}", "autopi": {BIG}}}]'.encode(),
    )
    assert response.status_code == 200, response.text
    drain(settings)
    for fmt, values in read_everything(client, dataset).items():
        for variable in ("native", "m.line", "obd.x.autopi"):
            assert values.get(variable) == BIG, (fmt, variable, values)
            assert type(values[variable]) is int


def test_thingspeak_update_keeps_integers_exact(client, settings):
    dataset = make_dataset(settings, variables=("field1",))
    response = client.get("/update", params={"key": dataset.write_key, "field1": str(BIG), "created_at": T})
    assert response.status_code == 200, response.text
    drain(settings)
    for fmt, values in read_everything(client, dataset).items():
        assert values["field1"] == BIG and type(values["field1"]) is int, fmt


@pytest.fixture
def broker(settings, tmp_path):
    private = start_broker(tmp_path / "mosquitto", settings)
    yield private
    private.stop()


def test_mqtt_keeps_integers_exact(client, settings, broker):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    bridge = Bridge(broker.settings, client_id="bridge-exact")  # the bridge `ownstream mqtt` runs, in process
    bridge.start()
    try:
        wait_for(bridge.subscribed.is_set, timeout=60, what="bridge subscribed")
        publish_all(
            broker.port,
            [(f"devices/{token}/telemetry", f'{{"ts": 1772366400000, "values": {{"temperature": {BIG}}}}}')],
        )
        wait_for(
            lambda: (
                drain(settings)
                or client.get(f"/api/v1/datasets/{dataset.id}/latest", params={"key": dataset.read_key}).json()[
                    "series"
                ]
            ),
            timeout=60,
            interval=0.2,
            what="the MQTT reading stored",
        )
    finally:
        bridge.stop()
    for fmt, values in read_everything(client, dataset).items():
        assert values["temperature"] == BIG and type(values["temperature"]) is int, fmt
