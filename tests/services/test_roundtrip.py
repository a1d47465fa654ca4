"""Both foundation ingest formats travel receiver → Redis → worker → PostgreSQL → API with types and times."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.factories import make_dataset
from tests.support.worker import drain


def rows_by(client, dataset, **params):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def test_push_round_trip_keeps_types_and_receipt_time(client, settings):
    dataset = make_dataset(settings)
    before = datetime.now(UTC)
    response = client.get(
        "/update",
        params={
            "key": dataset.write_key,
            "temperature": "21.5",
            "humidity": "40",
            "status": "door open",
            "door": "true",
        },
    )
    assert response.status_code == 200, response.text
    assert response.text == "1"  # the new entry id (ThingSpeak's reply)
    drain(settings)
    rows = rows_by(client, dataset)
    values = {row["variable"]: row["value"] for row in rows}
    assert values == {"temperature": 21.5, "humidity": 40, "status": "door open", "door": True}
    assert isinstance(values["humidity"], int) and isinstance(values["door"], bool)
    moments = {datetime.fromisoformat(row["time"]) for row in rows}
    assert len(moments) == 1
    assert before <= moments.pop() <= datetime.now(UTC)


def test_push_with_created_at_and_api_key_name_and_post_form(client, settings):
    dataset = make_dataset(settings)
    response = client.post(
        "/update",
        data={"api_key": dataset.write_key, "temperature": "-3.25", "created_at": "2026-01-02T03:04:05.123456+01:00"},
    )
    assert response.status_code == 200, response.text
    assert response.text == "1"
    drain(settings)
    [row] = rows_by(client, dataset)
    assert row == {"time": "2026-01-02T02:04:05.123456Z", "variable": "temperature", "value": -3.25}


def test_native_json_round_trip(client, settings):
    dataset = make_dataset(settings)
    body = {
        "readings": [
            {"time": "2026-03-01T12:00:00Z", "values": {"temperature": 1.5, "status": "ok", "door": False}},
            {"time": "2026-03-01T12:00:01.5Z", "device": "shed", "values": {"temperature": 2, "humidity": 55.5}},
        ]
    }
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", json=body, headers={"X-Write-Key": dataset.write_key}
    )
    assert response.status_code == 202, response.text
    drain(settings)
    rows = rows_by(client, dataset)
    assert rows == [
        {"time": "2026-03-01T12:00:00Z", "variable": "door", "value": False},
        {"time": "2026-03-01T12:00:00Z", "variable": "status", "value": "ok"},
        {"time": "2026-03-01T12:00:00Z", "variable": "temperature", "value": 1.5},
        {"time": "2026-03-01T12:00:01.500000Z", "variable": "humidity", "value": 55.5, "device": "shed"},
        {"time": "2026-03-01T12:00:01.500000Z", "variable": "temperature", "value": 2, "device": "shed"},
    ]
    only = rows_by(client, dataset, vars="humidity", start="2026-03-01T12:00:01Z")
    assert [r["value"] for r in only] == [55.5]


def test_seed_document_read(client, settings):
    dataset = make_dataset(settings, variables=("var1", "var2"))
    client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={"readings": [{"time": "2015-09-21T20:27:10.518Z", "values": {"var1": 1, "var2": 2}}]},
    )
    drain(settings)
    document = client.get(f"/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    assert document == {
        "name": "Weather",
        "var1": {"name": "var1", "values": [[1, 1442867230518]]},
        "var2": {"name": "var2", "values": [[2, 1442867230518]]},
    }
    assert dataset.read_key not in str(document) and "alice" not in str(document)
