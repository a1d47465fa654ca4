"""ThingSpeak reads as its documented API has them: feeds, fields, last values, the channel; aggregations."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import make_dataset
from tests.support.worker import drain

# Six entries ten minutes apart from 12:00, field1 = 1..6, field2 = 10, 20, ..; field2 missing at 12:20.
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def seeded(client, settings, *, public: bool = False):
    dataset = make_dataset(settings, variables=("temperature", "humidity"), public=public)
    updates = []
    for i in range(6):
        update = {"created_at": (BASE + timedelta(minutes=10 * i)).isoformat(), "field1": i + 1}
        if i != 2:
            update["field2"] = 10 * (i + 1)
        updates.append(update)
    updates[5]["status"] = "last one"
    response = client.post(
        f"/channels/{dataset.id}/bulk_update.json", json={"write_api_key": dataset.write_key, "updates": updates}
    )
    assert response.status_code == 202, response.text
    drain(settings)
    return dataset


def get(client, dataset, path, **params):
    response = client.get(f"/channels/{dataset.id}/{path}", params={"api_key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response


def test_feeds_json_has_the_channel_and_entries_oldest_first(client, settings):
    dataset = seeded(client, settings)
    document = get(client, dataset, "feeds.json").json()
    channel = document["channel"]
    assert {k: channel[k] for k in ("id", "name", "description", "field1", "field2", "last_entry_id")} == {
        "id": dataset.id,
        "name": "Weather",
        "description": "",
        "field1": "temperature",
        "field2": "humidity",
        "last_entry_id": 6,
    }
    assert channel["created_at"].endswith("Z") and "field3" not in channel
    assert document["feeds"][0] == {"created_at": "2026-03-01T12:00:00Z", "entry_id": 1, "field1": "1", "field2": "10"}
    assert document["feeds"][2] == {"created_at": "2026-03-01T12:20:00Z", "entry_id": 3, "field1": "3", "field2": None}
    assert [e["entry_id"] for e in document["feeds"]] == [1, 2, 3, 4, 5, 6]


def test_feeds_results_start_end_days_and_timezone(client, settings):
    dataset = seeded(client, settings)
    assert [e["entry_id"] for e in get(client, dataset, "feeds.json", results=2).json()["feeds"]] == [5, 6]
    window = get(client, dataset, "feeds.json", start="2026-03-01 12:10:00", end="2026-03-01 12:30:00")
    assert [e["entry_id"] for e in window.json()["feeds"]] == [2, 3]
    local = get(
        client,
        dataset,
        "feeds.json",
        start="2026-03-01 13:10:00",
        end="2026-03-01 13:30:00",
        timezone="Europe/Berlin",
        results=1,
    ).json()["feeds"]
    assert local == [{"created_at": "2026-03-01T13:20:00+01:00", "entry_id": 3, "field1": "3", "field2": None}]
    assert get(client, dataset, "feeds.json", days=1).json()["feeds"] == []  # all of it is older than a day
    recent = make_dataset(settings, name="Recent", variables=("field1",))
    for value in ("1", "2"):
        client.get("/update", params={"api_key": recent.write_key, "field1": value})
    drain(settings)
    assert [e["field1"] for e in get(client, recent, "feeds.json", minutes=5).json()["feeds"]] == ["1", "2"]


def test_feeds_csv(client, settings):
    dataset = seeded(client, settings)
    response = get(client, dataset, "feeds.csv", results=2, status="true")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["created_at", "entry_id", "field1", "field2", "status"],
        ["2026-03-01 12:40:00 UTC", "5", "5", "50", ""],
        ["2026-03-01 12:50:00 UTC", "6", "6", "60", "last one"],
    ]


def test_average_median_sum_and_timescale_buckets(client, settings):
    dataset = seeded(client, settings)
    average = get(client, dataset, "feeds.json", average=30).json()["feeds"]
    assert average == [
        {"created_at": "2026-03-01T12:00:00Z", "field1": "2", "field2": "15"},
        {"created_at": "2026-03-01T12:30:00Z", "field1": "5", "field2": "50"},
    ]
    median = get(client, dataset, "feeds.json", median=20, results=5).json()["feeds"]  # entries 2..6
    assert median == [
        {"created_at": "2026-03-01T12:00:00Z", "field1": "2", "field2": "20"},
        {"created_at": "2026-03-01T12:20:00Z", "field1": "3.5", "field2": "40"},
        {"created_at": "2026-03-01T12:40:00Z", "field1": "5.5", "field2": "55"},
    ]
    summed = get(client, dataset, "feeds.json", sum="daily").json()["feeds"]
    assert summed == [{"created_at": "2026-03-01T00:00:00Z", "field1": "21", "field2": "180"}]
    first = get(client, dataset, "feeds.json", timescale=30, round=1).json()["feeds"]
    assert first == [
        {"created_at": "2026-03-01T12:00:00Z", "field1": "1.0", "field2": "10.0"},
        {"created_at": "2026-03-01T12:30:00Z", "field1": "4.0", "field2": "40.0"},
    ]
    rounded = get(client, dataset, "feeds.json", average=60, round=2).json()["feeds"]
    assert rounded == [{"created_at": "2026-03-01T12:00:00Z", "field1": "3.50", "field2": "36.00"}]


def test_empty_buckets_between_entries_are_filled_with_nulls(client, settings):
    dataset = make_dataset(settings, variables=("field1",))
    updates = [{"created_at": "2026-03-01T00:05:00Z", "field1": 1}, {"created_at": "2026-03-01T00:35:00Z", "field1": 3}]
    client.post(
        f"/channels/{dataset.id}/bulk_update.json", json={"write_api_key": dataset.write_key, "updates": updates}
    )
    drain(settings)
    feeds = get(client, dataset, "feeds.json", average=10).json()["feeds"]
    assert [(f["created_at"][11:16], f["field1"]) for f in feeds] == [
        ("00:00", "1"),
        ("00:10", None),
        ("00:20", None),
        ("00:30", "3"),
    ]
    csv_rows = list(csv.reader(io.StringIO(get(client, dataset, "feeds.csv", average=10).text)))
    assert csv_rows[0] == ["created_at", "field1"] and csv_rows[2] == ["2026-03-01 00:10:00 UTC", ""]


def test_field_feed_and_last_values(client, settings):
    dataset = seeded(client, settings)
    field = get(client, dataset, "fields/2.json", results=3).json()
    assert field["channel"]["id"] == dataset.id
    assert field["feeds"] == [
        {"created_at": "2026-03-01T12:30:00Z", "entry_id": 4, "field2": "40"},
        {"created_at": "2026-03-01T12:40:00Z", "entry_id": 5, "field2": "50"},
        {"created_at": "2026-03-01T12:50:00Z", "entry_id": 6, "field2": "60"},
    ]
    last = get(client, dataset, "fields/1/last")
    assert (last.text, last.headers["content-type"].split(";")[0]) == ("6", "text/plain")
    assert get(client, dataset, "fields/2/last.json").json() == {
        "created_at": "2026-03-01T12:50:00Z",
        "entry_id": 6,
        "field2": "60",
    }
    assert get(client, dataset, "feeds/last.json", status="true").json() == {
        "created_at": "2026-03-01T12:50:00Z",
        "entry_id": 6,
        "field1": "6",
        "field2": "60",
        "status": "last one",
    }
    rows = list(csv.reader(io.StringIO(get(client, dataset, "fields/1.csv", results=1).text)))
    assert rows == [["created_at", "entry_id", "field1"], ["2026-03-01 12:50:00 UTC", "6", "6"]]


def test_last_values_are_the_newest_entrys_behind_many_newer_readings_of_other_protocols(client, settings):
    dataset = seeded(client, settings)  # entry 6: field1 = 6 at 12:50
    newer = [
        {"time": (BASE + timedelta(hours=1, seconds=i)).isoformat(), "values": {"temperature": 100 + i}}
        for i in range(60)  # more than the newest few readings the quick look searches for an entry
    ]
    answer = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", headers={"X-Write-Key": dataset.write_key}, json={"readings": newer}
    )
    assert answer.status_code == 202, answer.text
    drain(settings)
    assert get(client, dataset, "fields/1/last").text == "6"
    assert get(client, dataset, "fields/1/last.json").json()["entry_id"] == 6
    assert get(client, dataset, "feeds/last.json").json()["field1"] == "6"
    assert get(client, dataset, "fields/1/last_data_age.json").json()["last_data_age"] != "-1"


def test_a_dataset_written_only_by_other_protocols_has_no_entries(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    answer = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={"readings": [{"values": {"temperature": 5}}]},
    )
    assert answer.status_code == 202, answer.text
    drain(settings)
    assert get(client, dataset, "fields/1/last").text == "-1"
    assert get(client, dataset, "fields/1/last_data_age").text == "-1"
    assert get(client, dataset, "feeds.json").json()["feeds"] == []


def test_channel_json_and_empty_channel(client, settings):
    dataset = seeded(client, settings)
    channel = client.get(f"/channels/{dataset.id}.json", params={"api_key": dataset.read_key}).json()
    assert {k: channel[k] for k in ("id", "name", "field1", "field2", "last_entry_id")} == {
        "id": dataset.id,
        "name": "Weather",
        "field1": "temperature",
        "field2": "humidity",
        "last_entry_id": 6,
    }
    assert {"created_at", "updated_at", "description"} <= channel.keys()
    empty = make_dataset(settings, name="Empty", variables=("field1",))
    assert get(client, empty, "fields/1/last").text == "-1"
    assert get(client, empty, "feeds/last.json").json() == -1
    assert get(client, empty, "feeds.json").json()["feeds"] == []
    assert get(client, empty, "feeds.json", average=10).json()["feeds"] == []


def test_public_channel_needs_no_key(client, settings):
    dataset = seeded(client, settings, public=True)
    assert client.get(f"/channels/{dataset.id}/fields/1/last").text == "6"


@pytest.mark.parametrize(
    "path",
    [
        "feeds.json",
        "feeds.csv",
        "fields/1.json",
        "fields/1/last",
        "fields/1/last.json",
        "feeds/last.json",
        ".json",
        ".xml",
    ],
)
def test_private_channel_refuses_wrong_or_missing_key(client, settings, path):
    dataset = seeded(client, settings)
    url = f"/channels/{dataset.id}{path}" if path.startswith(".") else f"/channels/{dataset.id}/{path}"
    missing = client.get(url.replace(f"/channels/{dataset.id}", "/channels/999"))
    for params in ({}, {"api_key": "wrong"}, {"api_key": dataset.write_key}):
        refused = client.get(url, params=params)  # answered exactly as a channel that does not exist
        assert refused.status_code == missing.status_code == 404
        assert refused.text == missing.text.replace("999", str(dataset.id))


@pytest.mark.parametrize(
    "params",
    [
        {"results": "many"},
        {"average": "7"},
        {"median": "daily", "sum": "10"},
        {"start": "soon"},
        {"timezone": "Nowhere/Land"},
        {"round": "-1"},
        {"start": "2026-03-02", "end": "2026-03-01"},
    ],
)
def test_feeds_refuse_bad_parameters_with_400(client, settings, params):
    dataset = seeded(client, settings)
    response = client.get(f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key, **params})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_unknown_field_or_channel_is_404(client, settings):
    dataset = seeded(client, settings)
    assert client.get(f"/channels/{dataset.id}/fields/3.json", params={"api_key": dataset.read_key}).status_code == 404
    assert client.get(f"/channels/{dataset.id}/fields/9/last", params={"api_key": dataset.read_key}).status_code == 404
    assert client.get("/channels/999999/feeds.json").status_code == 404
