"""InfluxDB write routes in process: v2 and v1 auth forms, gzip, refusals that write nothing, /ping, /query."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime

import psycopg
import pytest

from shared.keys import generate_key, hash_key
from tests.support.db import queued_jobs
from tests.support.factories import make_dataset
from tests.support.services import free_port
from tests.support.worker import drain

T0 = 1_772_366_400  # 2026-03-01T12:00:00Z
LINES = f"weather,site=roof temp=21.5,hum=40i {T0}\nweather,site=shed temp=18.25,open=true {T0}"


def rows(client, dataset, **params):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def queued(settings) -> int:
    return queued_jobs(settings)


def v2(client, dataset_id, key, body, precision="s", **extra):
    return client.post(
        "/api/v2/write",
        params={"bucket": str(dataset_id), "org": "any", "precision": precision},
        content=body,
        headers={"Authorization": f"Token {key}", **extra},
    )


def test_v2_write_round_trip_with_tags_and_types(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    response = v2(client, dataset.id, dataset.write_key, LINES)
    assert response.status_code == 204, response.text
    assert response.headers["X-Influxdb-Version"]
    drain(settings)
    got = rows(client, dataset)
    assert got == [
        {"time": "2026-03-01T12:00:00Z", "variable": "weather.hum", "value": 40, "tags": {"site": "roof"}},
        {"time": "2026-03-01T12:00:00Z", "variable": "weather.open", "value": True, "tags": {"site": "shed"}},
        {"time": "2026-03-01T12:00:00Z", "variable": "weather.temp", "value": 21.5, "tags": {"site": "roof"}},
        {"time": "2026-03-01T12:00:00Z", "variable": "weather.temp", "value": 18.25, "tags": {"site": "shed"}},
    ]
    shed = rows(client, dataset, tag="site:shed")
    assert [(r["variable"], r["value"]) for r in shed] == [("weather.open", True), ("weather.temp", 18.25)]
    both = rows(client, dataset, tag=["site:shed", "site:roof"], vars="weather.temp")
    assert [r["value"] for r in both] == [21.5, 18.25]
    assert rows(client, dataset, tag=["site:shed", "other:x"]) == []


def test_resend_stores_nothing_new(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    for _ in range(2):
        assert v2(client, dataset.id, dataset.write_key, LINES).status_code == 204
        drain(settings)
    assert len(rows(client, dataset)) == 4


def test_same_variable_and_time_with_other_tags_is_another_series(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    v2(client, dataset.id, dataset.write_key, f"m,h=a v=1 {T0}\nm,h=b v=2 {T0}\nm v=3 {T0}")
    drain(settings)
    assert sorted(r["value"] for r in rows(client, dataset)) == [1.0, 2.0, 3.0]


def test_line_without_timestamp_gets_the_receive_time(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    before = datetime.now(UTC)
    assert v2(client, dataset.id, dataset.write_key, "m v=1").status_code == 204
    after = datetime.now(UTC)
    drain(settings)
    [row] = rows(client, dataset)
    assert row["variable"] == "m.v"
    assert before <= datetime.fromisoformat(row["time"]) <= after


@pytest.mark.parametrize("precision,stamp", [("ns", T0 * 10**9), ("us", T0 * 10**6), ("ms", T0 * 1000), ("s", T0)])
def test_v2_precisions(client, settings, precision, stamp):
    dataset = make_dataset(settings, accept_new_variables=True)
    assert v2(client, dataset.id, dataset.write_key, f"m v=1 {stamp}", precision=precision).status_code == 204
    drain(settings)
    assert rows(client, dataset)[0]["time"] == "2026-03-01T12:00:00Z"


def test_v1_write_with_p_basic_and_token(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    basic = base64.b64encode(f"anyone:{dataset.write_key}".encode()).decode()
    sent = [
        client.post(
            "/write",
            params={"db": dataset.id, "precision": "s", "p": dataset.write_key, "u": "x"},
            content=f"m v=1 {T0}",
        ),
        client.post(
            "/write",
            params={"db": dataset.id, "precision": "ms"},
            content=f"m v=2 {(T0 + 1) * 1000}",
            headers={"Authorization": f"Basic {basic}"},
        ),
        client.post(
            "/write",
            params={"db": dataset.id, "precision": "u"},
            content=f"m v=3 {(T0 + 2) * 10**6}",
            headers={"Authorization": f"Token {dataset.write_key}"},
        ),
        client.post(
            "/write",
            params={"db": dataset.id, "precision": "n"},
            content=f"m v=4 {(T0 + 3) * 10**9}",
            headers={"Authorization": f"Token {dataset.write_key}"},
        ),
        client.post(
            "/write",
            params={"db": dataset.id, "precision": "m", "p": dataset.write_key},
            content=f"m v=5 {T0 // 60 + 1}",
        ),
    ]
    assert [r.status_code for r in sent] == [204] * 5, [r.text for r in sent]
    drain(settings)
    assert [(r["time"], r["value"]) for r in rows(client, dataset)] == [
        ("2026-03-01T12:00:00Z", 1.0),
        ("2026-03-01T12:00:01Z", 2.0),
        ("2026-03-01T12:00:02Z", 3.0),
        ("2026-03-01T12:00:03Z", 4.0),
        ("2026-03-01T12:01:00Z", 5.0),
    ]


def test_gzip_body(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    response = v2(client, dataset.id, dataset.write_key, gzip.compress(LINES.encode()), **{"Content-Encoding": "gzip"})
    assert response.status_code == 204, response.text
    drain(settings)
    assert len(rows(client, dataset)) == 4


def test_bad_line_is_named_and_nothing_is_written(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    body = f"m v=1 {T0}\n# comment\nm v=2 {T0 + 1}\nm v=oops {T0 + 2}\nm v= {T0 + 3}"
    response = v2(client, dataset.id, dataset.write_key, body)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": f"line 4: invalid field value 'oops' for field 'v': not a number, integer, boolean or quoted "
        f"string: 'm v=oops {T0 + 2}'",
    }
    v1 = client.post("/write", params={"db": dataset.id, "p": dataset.write_key}, content="m v=1\nm")
    assert v1.status_code == 400 and v1.json()["error"] == "line 2: missing fields: 'm'"
    assert queued(settings) == 0
    drain(settings)
    assert rows(client, dataset) == []


def test_time_outside_the_window_is_refused_naming_the_line(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    response = v2(client, dataset.id, dataset.write_key, f"m v=1 {T0}\nm v=2 {T0}", precision="ms")
    assert response.status_code == 400
    assert response.json()["message"].startswith("line 1: time 1970-01-21T")
    assert "is the precision right?" in response.json()["message"]
    assert queued(settings) == 0


def test_empty_body_and_non_utf8_are_refused(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    empty = v2(client, dataset.id, dataset.write_key, "\n# nothing\n")
    assert empty.status_code == 400 and "requires points" in empty.json()["message"]
    binary = v2(client, dataset.id, dataset.write_key, b"m v=1 \xff")
    assert binary.status_code == 400 and "UTF-8" in binary.json()["message"]


def test_wrong_missing_and_read_keys_are_401(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    for headers in ({"Authorization": "Token nope"}, {}, {"Authorization": f"Token {dataset.read_key}"}):
        response = client.post("/api/v2/write", params={"bucket": dataset.id}, content="m v=1", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    for params in ({"p": "nope"}, {}):
        response = client.post("/write", params={"db": dataset.id, **params}, content="m v=1")
        assert response.status_code == 401 and response.json()["error"]
    bad_basic = client.post(
        "/write", params={"db": dataset.id}, content="m v=1", headers={"Authorization": "Basic !!notbase64"}
    )
    assert bad_basic.status_code == 401
    assert queued(settings) == 0


def test_unknown_bucket_and_another_datasets_bucket_are_404(client, settings):
    mine = make_dataset(settings, accept_new_variables=True)
    theirs = make_dataset(settings, owner="bob", name="Other", accept_new_variables=True)
    for bucket in (str(theirs.id), "999999", "telegraf"):
        response = v2(client, bucket, mine.write_key, f"m v=1 {T0}")
        assert response.status_code == 404, bucket
        assert response.json()["code"] == "not found"
    v1 = client.post("/write", params={"db": theirs.id, "p": mine.write_key}, content=f"m v=1 {T0}")
    assert v1.status_code == 404 and "database not found" in v1.json()["error"]
    assert queued(settings) == 0
    drain(settings)
    assert rows(client, theirs) == []


def test_missing_bucket_and_bad_precision_are_400(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    auth = {"Authorization": f"Token {dataset.write_key}"}
    assert client.post("/api/v2/write", content="m v=1", headers=auth).json() == {
        "code": "invalid",
        "message": "bucket is required",
    }
    assert client.post("/write", content="m v=1", headers=auth).status_code == 400
    bad = client.post("/api/v2/write", params={"bucket": dataset.id, "precision": "n"}, content="m v=1", headers=auth)
    assert bad.status_code == 400 and "invalid precision 'n'" in bad.json()["message"]
    bad = client.post("/write", params={"db": dataset.id, "precision": "d"}, content="m v=1", headers=auth)
    assert bad.status_code == 400


def test_body_over_the_limit_is_413(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    body = "m v=1\n" * (settings.max_body_bytes // 6 + 1)
    response = v2(client, dataset.id, dataset.write_key, body)
    assert response.status_code == 413 and response.json()["code"] == "request too large"
    zipped = v2(client, dataset.id, dataset.write_key, gzip.compress(body.encode()), **{"Content-Encoding": "gzip"})
    assert zipped.status_code == 413
    assert queued(settings) == 0


def test_device_token_writes_as_its_device_and_only_its_dataset(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    other = make_dataset(settings, owner="bob", name="Other", accept_new_variables=True)
    token = generate_key()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into devices (dataset_id, device_id, token_hash) values (%s, 'car-1', %s)",
            (dataset.id, hash_key(token)),
        )
    assert v2(client, dataset.id, token, f"obd,unit=kmh speed=88i {T0}").status_code == 204
    assert v2(client, other.id, token, f"obd speed=1i {T0}").status_code == 404
    drain(settings)
    assert rows(client, dataset) == [
        {
            "time": "2026-03-01T12:00:00Z",
            "variable": "obd.speed",
            "value": 88,
            "device": "car-1",
            "tags": {"unit": "kmh"},
        }
    ]
    assert rows(client, other) == []


def test_ping(client):
    for method in ("GET", "HEAD"):
        response = client.request(method, "/ping")
        assert response.status_code == 204 and response.headers["X-Influxdb-Version"]
    assert client.get("/ping", params={"verbose": "true"}).json()["version"]


def test_query_create_database_is_harmless_and_other_queries_are_refused(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    response = client.post("/query", params={"q": 'CREATE DATABASE "telegraf"'})
    assert response.status_code == 200 and response.json() == {"results": [{"statement_id": 0}]}
    form = client.post(
        "/query", data={"q": "create database a; CREATE DATABASE b WITH DURATION 1d;", "p": dataset.write_key}
    )
    assert form.json() == {"results": [{"statement_id": 0}, {"statement_id": 1}]}
    other = client.post("/query", params={"q": "SHOW DATABASES"})
    assert other.status_code == 400 and "only CREATE DATABASE" in other.json()["error"]
    assert client.post("/query").status_code == 400
    wrong = client.post("/query", params={"q": "CREATE DATABASE x", "p": "nope"})
    assert wrong.status_code == 401
    wrong_form = client.post("/query", data={"q": "CREATE DATABASE x", "p": "nope"})
    assert wrong_form.status_code == 401 and wrong_form.json()["code"] == "unauthorized"


def test_queue_unreachable_is_503_in_influx_shape(settings):
    from fastapi.testclient import TestClient

    from services.combined import create_app

    dataset = make_dataset(settings, accept_new_variables=True)
    away = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(away)) as client:
        response = v2(client, dataset.id, dataset.write_key, f"m v=1 {T0}")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable" and response.headers["Retry-After"] == "5"


def test_tag_filter_must_be_key_colon_value(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, "tag": "host"})
    assert response.status_code == 400 and "key:value" in response.json()["detail"]
