"""ThingSpeak writes as its documented API has them: /update, /update.json, bulk JSON and CSV, entry ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import orjson
import pytest
from redis import Redis

from tests.support.factories import make_dataset
from tests.support.worker import drain

FIELDS = ("field1", "field2", "field3")


def feeds(client, dataset, **params):
    response = client.get(f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["feeds"]


def stored_rows(client, dataset):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key})
    return response.json()["rows"]


def test_update_by_get_and_post_with_each_key_form_gives_increasing_entry_ids(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    key = dataset.write_key
    replies = [
        client.get("/update", params={"api_key": key, "field1": "1.5"}),
        client.get(f"/update?key={key}&field2=20"),
        client.get("/update", params={"field3": "on"}, headers={"X-THINGSPEAKAPIKEY": key}),
        client.post("/update", data={"api_key": key, "field1": "2.5", "field2": "21"}),
        client.post("/update", json={"api_key": key, "field1": 3.5}),
        client.post("/update", data={"field2": "22"}, headers={"X-THINGSPEAKAPIKEY": key}),
    ]
    assert [(r.status_code, r.text) for r in replies] == [(200, str(n)) for n in range(1, 7)]
    drain(settings)
    entries = feeds(client, dataset)
    assert [e["entry_id"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [(e["field1"], e["field2"], e["field3"]) for e in entries] == [
        ("1.5", None, None),
        (None, "20", None),
        (None, None, "on"),
        ("2.5", "21", None),
        ("3.5", None, None),
        (None, "22", None),
    ]


def test_update_json_answers_the_entry_and_keeps_location_and_status(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    response = client.get(
        "/update.json",
        params={
            "api_key": dataset.write_key,
            "field1": "23.5",
            "field2": "45",
            "lat": "37.7749",
            "long": "-122.4194",
            "elevation": "12",
            "status": "all good",
            "created_at": "2026-01-02 03:04:05",
            "timezone": "Europe/Berlin",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "channel_id": dataset.id,
        "created_at": "2026-01-02T02:04:05Z",
        "entry_id": 1,
        "field1": "23.5",
        "field2": "45",
        "field3": None,
        "field4": None,
        "field5": None,
        "field6": None,
        "field7": None,
        "field8": None,
        "latitude": "37.7749",
        "longitude": "-122.4194",
        "elevation": "12",
        "status": "all good",
    }
    drain(settings)
    [entry] = feeds(client, dataset, location="true", status="true")
    assert entry == {
        "created_at": "2026-01-02T02:04:05Z",
        "entry_id": 1,
        "field1": "23.5",
        "field2": "45",
        "field3": None,
        "latitude": "37.7749",
        "longitude": "-122.4194",
        "elevation": "12",
        "status": "all good",
    }
    assert "status" not in feeds(client, dataset)[0]


def test_fields_map_to_the_datasets_variables_in_order_and_tags_by_name(client, settings):
    dataset = make_dataset(settings, variables=("temperature", "humidity"))
    assert (
        client.get(
            "/update",
            params={
                "api_key": dataset.write_key,
                "field2": "40",
                "temperature": "21.5",
                "created_at": "2026-03-01T00:00:00Z",
            },
        ).text
        == "1"
    )
    drain(settings)
    assert {(r["variable"], r["value"]) for r in stored_rows(client, dataset)} == {
        ("humidity", 40),
        ("temperature", 21.5),
    }


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"field4": "1"}, "field4"),
        ({"wind": "1"}, "unknown field 'wind'"),
        ({"field1": "1", "lat": "91"}, "lat"),
        ({"field1": "1", "created_at": "yesterday"}, "created_at"),
        ({"field1": "1", "timezone": "Mars/Olympus"}, "timezone"),
        ({}, "no values"),
    ],
)
def test_update_refuses_bad_input_with_400_and_stores_nothing(client, settings, params, reason):
    dataset = make_dataset(settings, variables=FIELDS)
    response = client.get("/update", params={"api_key": dataset.write_key, **params})
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert drain(settings) == 0
    assert stored_rows(client, dataset) == []


def test_update_refuses_wrong_or_read_key_with_401(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    for params, headers in (
        ({"api_key": "nope"}, {}),
        ({}, {}),
        ({"api_key": dataset.read_key}, {}),
        ({}, {"X-THINGSPEAKAPIKEY": "nope"}),
    ):
        response = client.get("/update", params={**params, "field1": "1"}, headers=headers)
        assert response.status_code == 401, response.text
    assert drain(settings) == 0


def test_update_refuses_oversize_body_with_413(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    body = f"api_key={dataset.write_key}&field1=" + "x" * (settings.max_body_bytes + 1)
    response = client.post("/update", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]
    assert drain(settings) == 0


def test_bulk_json_with_created_at(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    body = {
        "write_api_key": dataset.write_key,
        "updates": [
            {"created_at": "2026-05-25T14:00:00Z", "field1": 22.1, "field2": "48.2"},
            {"created_at": "2026-05-25 14:01:00 +0000", "field1": "22.3", "status": "ok"},
            {"created_at": 1779717720, "field1": "22.4", "latitude": 47.5, "longitude": 8.25},
        ],
    }
    response = client.post(f"/channels/{dataset.id}/bulk_update.json", json=body)
    assert (response.status_code, response.json()) == (202, {"success": True})
    assert drain(settings) == 1  # one queue message (one job) for the whole request
    entries = feeds(client, dataset, location="true", status="true")
    assert [
        (e["created_at"], e["entry_id"], e["field1"], e["field2"], e["status"], e["latitude"]) for e in entries
    ] == [
        ("2026-05-25T14:00:00Z", 1, "22.1", "48.2", None, None),
        ("2026-05-25T14:01:00Z", 2, "22.3", None, "ok", None),
        ("2026-05-25T14:02:00Z", 3, "22.4", None, None, "47.5"),
    ]


def test_bulk_json_with_delta_t_counts_back_from_the_receive_time(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    client.get("/update", params={"api_key": dataset.write_key, "field1": "0"})  # entry 1
    before = datetime.now(UTC)
    body = {
        "write_api_key": dataset.write_key,
        "updates": [
            {"delta_t": 0, "field1": "1"},
            {"delta_t": 15, "field1": "2"},
            {"delta_t": 5, "field1": "3"},
        ],
    }
    assert client.post(f"/channels/{dataset.id}/bulk_update.json", json=body).status_code == 202
    drain(settings)
    entries = sorted(feeds(client, dataset), key=lambda e: e["entry_id"])[1:]
    assert [(e["entry_id"], e["field1"]) for e in entries] == [(2, "1"), (3, "2"), (4, "3")]
    times = [datetime.fromisoformat(e["created_at"]) for e in entries]
    assert times[2] - times[1] == timedelta(seconds=5) and times[1] - times[0] == timedelta(seconds=15)
    assert before - timedelta(seconds=1) <= times[2] <= datetime.now(UTC)


def test_bulk_csv_absolute_and_relative(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    absolute = {
        "write_api_key": dataset.write_key,
        "time_format": "absolute",
        "updates": "2026-01-30 10:26:2 -0500,1,2,3,,,,,,42.0,0.5,50,yes, it works|2026-01-30T15:27:00Z,4,,,,,,,,,,,",
    }
    response = client.post(f"/channels/{dataset.id}/bulk_update.csv", data=absolute)
    assert (response.status_code, response.json()) == (202, {"success": True})
    relative = {"write_api_key": dataset.write_key, "time_format": "relative", "updates": "0,5|10,6|10,7"}
    assert client.post(f"/channels/{dataset.id}/bulk_update.csv", data=relative).status_code == 202
    drain(settings)
    entries = feeds(client, dataset, status="true", location="true")
    assert entries[:2] == [
        {
            "created_at": "2026-01-30T15:26:02Z",
            "entry_id": 1,
            "field1": "1",
            "field2": "2",
            "field3": "3",
            "latitude": "42",
            "longitude": "0.5",
            "elevation": "50",
            "status": "yes, it works",
        },
        {
            "created_at": "2026-01-30T15:27:00Z",
            "entry_id": 2,
            "field1": "4",
            "field2": None,
            "field3": None,
            "latitude": None,
            "longitude": None,
            "elevation": None,
            "status": None,
        },
    ]
    assert [(e["entry_id"], e["field1"]) for e in entries[2:]] == [(3, "5"), (4, "6"), (5, "7")]
    times = [datetime.fromisoformat(e["created_at"]) for e in entries[2:]]
    assert [b - a for a, b in pairwise(times)] == [timedelta(seconds=10)] * 2


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("bulk_update.json", {"updates": [{"delta_t": 0, "field1": "1"}]}, 401),
        ("bulk_update.json", {"write_api_key": "KEY", "updates": []}, 400),
        ("bulk_update.json", {"write_api_key": "KEY", "updates": [{"field1": "1"}]}, 400),
        ("bulk_update.json", {"write_api_key": "KEY", "updates": [{"delta_t": 0, "field9": "1"}]}, 400),
        (
            "bulk_update.json",
            {
                "write_api_key": "KEY",
                "updates": [{"delta_t": 0, "field1": "1"}, {"created_at": "2026-01-01", "field1": "2"}],
            },
            400,
        ),
        (
            "bulk_update.json",
            {"write_api_key": "KEY", "updates": [{"delta_t": 1, "field1": "1"}, {"delta_t": 0, "field1": "2"}]},
            400,
        ),
    ],
)
def test_bulk_json_refuses_bad_requests_and_stores_nothing(client, settings, path, body, status):
    dataset = make_dataset(settings, variables=FIELDS)
    if body.get("write_api_key") == "KEY":
        body = {**body, "write_api_key": dataset.write_key}
    response = client.post(f"/channels/{dataset.id}/{path}", json=body)
    assert response.status_code == status, response.text
    assert drain(settings) == 0


def test_bulk_refuses_another_channels_key_bad_csv_and_oversize(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    other = make_dataset(settings, name="Other", variables=FIELDS)
    good = {"write_api_key": dataset.write_key, "time_format": "relative", "updates": "0,1"}
    assert client.post(f"/channels/{other.id}/bulk_update.csv", data=good).status_code == 401
    for bad in (
        {**good, "time_format": "sometimes"},
        {**good, "updates": "0,1,2,3,4"},
        {**good, "updates": ""},
        {**good, "time_format": "absolute", "updates": "not a time,1"},
    ):
        assert client.post(f"/channels/{dataset.id}/bulk_update.csv", data=bad).status_code == 400, bad
    big = orjson.dumps({"write_api_key": dataset.write_key, "updates": [{"delta_t": 1, "field1": "x" * 1000}] * 2000})
    response = client.post(
        f"/channels/{dataset.id}/bulk_update.json", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert drain(settings) == 0


def test_entry_ids_continue_from_the_database_when_redis_lost_the_counter(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    for value in ("1", "2"):
        client.get("/update", params={"api_key": dataset.write_key, "field1": value})
    drain(settings)
    redis = Redis.from_url(settings.redis_url)
    assert redis.delete(f"{settings.redis_namespace}:entry-id:{dataset.id}") == 1  # as after a Redis restart
    assert client.get("/update", params={"api_key": dataset.write_key, "field1": "3"}).text == "3"
