"""The unmodified InfluxDB clients against a real server: `influxdb-client` (v2 API) and `influxdb` (v1 API),
and a replay of the request Telegraf's influxdb_v2 output sends."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import httpx
import influxdb
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions
from influxdb_client.rest import ApiException

from tests.e2e.conftest import data_rows
from tests.support.factories import make_dataset
from tests.support.worker import drain

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def values(url, dataset, variable) -> list:
    return [r["value"] for r in data_rows(url, dataset.id, dataset.read_key, vars=variable)]


def test_influxdb_client_writes_synchronously_and_batching_pings_checks_health_and_refuses_queries(
    ownstream_url, settings
):
    dataset = make_dataset(settings, variables=())
    failures: list = []
    with InfluxDBClient(url=ownstream_url, token=dataset.write_key, org="any") as client:
        assert client.ping() is True
        health = client.health()
        assert (health.status, health.name) == ("pass", "influxdb")
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=str(dataset.id), record=Point("env").tag("room", "kitchen").field("temp", 20.5).time(T0)
        )
        batching = client.write_api(
            write_options=WriteOptions(batch_size=2, flush_interval=200, max_retries=0),
            error_callback=lambda conf, data, error: failures.append(error),
        )
        with batching:
            for second in range(1, 6):
                batching.write(
                    bucket=str(dataset.id),
                    write_precision=WritePrecision.S,
                    record=f"env,room=kitchen temp={20 + second}.5 {int(T0.timestamp()) + second}",
                )
        with pytest.raises(ApiException) as refused:
            client.query_api().query(f'from(bucket: "{dataset.id}") |> range(start: -1h)')
        assert refused.value.status == 501 and "not supported" in str(refused.value)
    assert failures == []
    drain(settings)
    assert values(ownstream_url, dataset, "env.temp") == [20.5, 21.5, 22.5, 23.5, 24.5, 25.5]


def test_influxdb_v1_client_creates_database_writes_points_and_pings(ownstream_url, settings):
    dataset = make_dataset(settings, variables=())
    port = int(ownstream_url.rsplit(":", 1)[1])
    client = influxdb.InfluxDBClient(
        host="127.0.0.1", port=port, username="any", password=dataset.write_key, database=str(dataset.id), timeout=10
    )
    try:
        assert client.ping() == "1.8.10"
        client.create_database(str(dataset.id))  # Telegraf and scripts do this first: a no-op that succeeds
        points = [
            {
                "measurement": "env",
                "tags": {"room": "cellar"},
                "time": (T0 + timedelta(seconds=i)).isoformat(),
                "fields": {"temp": 10.0 + i, "count": i},
            }
            for i in range(3)
        ]
        assert client.write_points(points) is True
        assert client.write_points(points, time_precision="s", database=str(dataset.id)) is True  # a resend
        with pytest.raises(influxdb.exceptions.InfluxDBClientError, match="not found"):
            client.write_points(points, database=str(dataset.id + 1))
    finally:
        client.close()
    drain(settings)
    assert values(ownstream_url, dataset, "env.temp") == [10.0, 11.0, 12.0]  # the resend stored nothing new
    assert values(ownstream_url, dataset, "env.count") == [0, 1, 2]


def test_a_telegraf_request_replayed(ownstream_url, settings):
    dataset = make_dataset(settings, variables=())
    # As Telegraf's outputs.influxdb_v2 sends it (plugins/outputs/influxdb_v2/http.go): POST /api/v2/write with
    # only `bucket` and `org` in the query (no precision: nanosecond timestamps, InfluxDB's default), a gzip body
    # (its default content_encoding), its user agent, `Authorization: Token`, and what Go's client adds.
    body = (
        b"cpu,cpu=cpu-total,host=server01 usage_idle=97.5,usage_user=1.25 1772366400000000000\n"
        b"mem,host=server01 used_percent=41.2,available=8123456789i 1772366400000000000\n"
    )
    compressed = gzip.compress(body)
    response = httpx.post(
        f"{ownstream_url}/api/v2/write?bucket={dataset.id}&org=any",
        content=compressed,
        headers={
            "User-Agent": "Telegraf/1.30.1 Go/1.22.1",
            "Content-Length": str(len(compressed)),
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
            "Authorization": f"Token {dataset.write_key}",
        },
    )
    assert response.status_code == 204, response.text
    wrong = httpx.post(
        f"{ownstream_url}/api/v2/write?bucket={dataset.id}&org=any",
        content=compressed,
        headers={"Content-Encoding": "gzip", "Authorization": "Token not-a-key"},
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    drain(settings)
    rows = data_rows(ownstream_url, dataset.id, dataset.read_key, tag="host:server01")
    assert {r["time"] for r in rows} == {"2026-03-01T12:00:00Z"}  # nanoseconds read as such
    assert {(r["variable"], r["value"]) for r in rows} == {
        ("cpu.usage_idle", 97.5),
        ("cpu.usage_user", 1.25),
        ("mem.used_percent", 41.2),
        ("mem.available", 8123456789),
    }
