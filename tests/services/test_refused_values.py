"""Values PostgreSQL cannot hold, out-of-range ids and odd parameters: a 4xx naming the problem, never a 500."""

from __future__ import annotations

import pytest

from tests.support.factories import make_dataset, make_token
from tests.support.worker import drain

BIG = str(2**31)


@pytest.fixture
def ctx(client, settings):
    return (
        client,
        make_dataset(settings, variables=("field1", "status")),
        {"Authorization": f"Bearer {make_token(settings)}"},
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/datasets/{BIG}/data",
        f"/api/v1/datasets/{2**70}",
        f"/channels/{BIG}/feeds.json",
        f"/datasets/{2**40}",
    ],
)
def test_ids_beyond_the_column_are_not_found(ctx, path):
    client, dataset, _ = ctx
    assert client.get(path, params={"key": dataset.read_key}).status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/datasets/{id}/data", {"device": "a\x00"}),
        ("/api/v1/datasets/{id}/data", {"vars": "a\x00b"}),
        ("/api/v1/datasets/{id}/events", {"type": "a\x00b"}),
        ("/api/devices", {"datasetId": BIG}),
        ("/api/v1/datasets/{id}/rejected", {"before_id": str(2**63)}),
    ],
)
def test_reads_with_unstorable_values_are_400(ctx, path, params):
    client, dataset, auth = ctx
    response = client.get(path.format(id=dataset.id), params={"key": dataset.read_key, **params}, headers=auth)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


def test_management_refuses_nul_and_changes_nothing(ctx):
    client, _, auth = ctx
    before = client.get("/api/v1/datasets", headers=auth).json()
    assert client.post("/api/v1/datasets", headers=auth, json={"name": "a\x00"}).status_code == 400
    assert client.post("/api/v1/auth/login", json={"username": "a\x00", "password": "x"}).status_code in (400, 401)
    assert client.get("/api/v1/datasets", headers=auth).json() == before


@pytest.mark.parametrize(
    "params",
    [
        {"field1": "a\x00b"},
        {"status": "x\x00"},
        {"field1": "1", "timezone": "Europe"},
        {"field1": "1", "timezone": "a" * 300},
        {"field1": "1", "created_at": "2026-01-01 00:00", "timezone": "Europe"},
    ],
)
def test_pushes_with_unstorable_values_are_400_and_store_nothing(ctx, settings, params):
    client, dataset, _ = ctx
    response = client.get("/update", params={"api_key": dataset.write_key, **params})
    assert response.status_code == 400, response.text
    drain(settings)
    assert client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).json()["rows"] == []


def test_native_device_with_nul_is_400(ctx):
    client, dataset, _ = ctx
    body = {"readings": [{"device": "d\x00", "values": {"field1": 1}}]}
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", json=body, headers={"X-Write-Key": dataset.write_key}
    )
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


@pytest.mark.parametrize("param", ["average", "sum", "median", "timescale"])
def test_thingspeak_aggregation_with_a_unicode_digit_is_400(ctx, param):
    client, dataset, _ = ctx
    response = client.get(f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key, param: "²"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [{"q": 1}, {"q": ["a"]}, {"q": "CREATE DATABASE x", "p": 1}])
def test_influx_query_with_non_string_values_is_400(ctx, body):
    client, _, _ = ctx
    assert client.post("/query", json=body).status_code == 400
