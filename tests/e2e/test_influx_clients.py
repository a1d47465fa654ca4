"""Real InfluxDB clients against a real Ownstream HTTP server process: the official influxdb-client and plain
HTTP as Telegraf's v1 output sends it; data read back through the API with types, times and a tag filter."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from tests.support.factories import make_dataset
from tests.support.processes import served
from tests.support.worker import drain

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def server(settings) -> Iterator[str]:
    """`ownstream serve all` on a free port, with this test's environment (database, Redis, queue)."""
    with served("all", "/ping") as url:
        yield url


def read(url, dataset, **params) -> list[dict]:
    response = httpx.get(f"{url}/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def test_influxdb_client_writes_with_tags_and_types(server, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    points = [
        Point("env")
        .tag("room", "kitchen")
        .tag("floor", "1")
        .field("temp", 21.5)
        .field("count", 3)
        .field("ok", True)
        .field("note", 'said "hi", then left')
        .time(T0, WritePrecision.NS),
        Point("env")
        .tag("room", "cellar")
        .tag("floor", "-1")
        .field("temp", 12.0)
        .field("count", 4)
        .time(T0 + timedelta(seconds=1), WritePrecision.NS),
    ]
    with InfluxDBClient(url=server, token=dataset.write_key, org="ignored") as client:
        assert client.ping()
        writer = client.write_api(write_options=SYNCHRONOUS)
        writer.write(bucket=str(dataset.id), record=points)
        writer.write(
            bucket=str(dataset.id),
            record=f"env,room=kitchen,floor=1 temp=22.25 {int(T0.timestamp()) + 2}",
            write_precision=WritePrecision.S,
        )
    with InfluxDBClient(url=server, token=dataset.write_key, org="ignored", enable_gzip=True) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=str(dataset.id), record=Point("env").tag("room", "attic").field("temp", 30.5).time(T0)
        )
    drain(settings)

    kitchen = read(server, dataset, tag="room:kitchen")
    assert kitchen == [
        {
            "time": "2026-03-01T12:00:00.250000Z",
            "variable": "env.count",
            "value": 3,
            "tags": {"floor": "1", "room": "kitchen"},
        },
        {
            "time": "2026-03-01T12:00:00.250000Z",
            "variable": "env.note",
            "value": 'said "hi", then left',
            "tags": {"floor": "1", "room": "kitchen"},
        },
        {
            "time": "2026-03-01T12:00:00.250000Z",
            "variable": "env.ok",
            "value": True,
            "tags": {"floor": "1", "room": "kitchen"},
        },
        {
            "time": "2026-03-01T12:00:00.250000Z",
            "variable": "env.temp",
            "value": 21.5,
            "tags": {"floor": "1", "room": "kitchen"},
        },
        {
            "time": "2026-03-01T12:00:02Z",
            "variable": "env.temp",
            "value": 22.25,
            "tags": {"floor": "1", "room": "kitchen"},
        },
    ]
    assert type(kitchen[0]["value"]) is int and type(kitchen[3]["value"]) is float
    cellar = read(server, dataset, tag=["room:cellar", "floor:-1"])
    assert [(r["variable"], r["value"], r["time"]) for r in cellar] == [
        ("env.count", 4, "2026-03-01T12:00:01.250000Z"),
        ("env.temp", 12.0, "2026-03-01T12:00:01.250000Z"),
    ]
    assert [r["value"] for r in read(server, dataset, tag="room:attic")] == [30.5]
    assert len(read(server, dataset)) == 8


def test_influxdb_client_sees_refusals(server, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    other = make_dataset(settings, owner="bob", name="Other", accept_new_variables=True)
    with InfluxDBClient(url=server, token=dataset.write_key, org="ignored") as client:
        writer = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(ApiException) as bad:
            writer.write(
                bucket=str(dataset.id),
                record="m v=1 1772366400\nm,host=a v=x 1772366400",
                write_precision=WritePrecision.S,
            )
        assert bad.value.status == 400
        assert "line 2: invalid field value 'x'" in bad.value.message
        with pytest.raises(ApiException) as unknown:
            writer.write(bucket="424242", record="m v=1")
        assert unknown.value.status == 404
        with pytest.raises(ApiException) as foreign:
            writer.write(bucket=str(other.id), record="m v=1")
        assert foreign.value.status == 404
    with InfluxDBClient(url=server, token="wrong", org="ignored") as client:
        with pytest.raises(ApiException) as wrong:
            client.write_api(write_options=SYNCHRONOUS).write(bucket=str(dataset.id), record="m v=1")
        assert wrong.value.status == 401
    drain(settings)
    assert read(server, dataset) == [] and read(server, other) == []


def test_v1_http_like_telegraf(server, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    created = httpx.post(f"{server}/query", params={"q": 'CREATE DATABASE "telegraf"'})
    assert created.status_code == 200 and created.json() == {"results": [{"statement_id": 0}]}
    ping = httpx.head(f"{server}/ping")
    assert ping.status_code == 204 and ping.headers["X-Influxdb-Version"]
    stamp = int(T0.timestamp())
    by_p = httpx.post(
        f"{server}/write",
        params={"db": dataset.id, "precision": "s", "p": dataset.write_key},
        content=f"cpu,host=server01 usage_idle=98.5 {stamp}",
    )
    basic = base64.b64encode(f"telegraf:{dataset.write_key}".encode()).decode()
    by_basic = httpx.post(
        f"{server}/write",
        params={"db": dataset.id, "precision": "ms"},
        content=gzip.compress(f"cpu,host=server02 usage_idle=12.5 {stamp * 1000 + 500}".encode()),
        headers={"Authorization": f"Basic {basic}", "Content-Encoding": "gzip"},
    )
    assert (by_p.status_code, by_basic.status_code) == (204, 204), (by_p.text, by_basic.text)
    wrong = httpx.post(f"{server}/write", params={"db": dataset.id, "p": "wrong"}, content="cpu v=1")
    assert wrong.status_code == 401 and wrong.json()["error"]
    drain(settings)
    assert read(server, dataset, tag="host:server02") == [
        {
            "time": "2026-03-01T12:00:00.500000Z",
            "variable": "cpu.usage_idle",
            "value": 12.5,
            "tags": {"host": "server02"},
        }
    ]
    assert [r["value"] for r in read(server, dataset)] == [98.5, 12.5]
