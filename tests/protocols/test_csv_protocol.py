"""A protocol added through the registries alone (tests/protocols: one format module, one normalizer) works end to
end: HTTP and MQTT into the queue, the worker into PostgreSQL, the query API out."""

from __future__ import annotations

from services.ingest.credentials import Credential
from services.ingest.mqtt_dispatch import Dispatcher
from services.ingest.receiver import Receiver
from shared.config import Settings
from tests.support.db import queued_jobs
from tests.support.factories import make_dataset
from tests.support.worker import drain


def rows(client, dataset):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key})
    assert response.status_code == 200, response.text
    return [(r["variable"], r["value"], r["time"]) for r in response.json()["rows"]]


def post(client, dataset, body: bytes, **headers):
    url = f"/test-csv/datasets/{dataset.id}"
    return client.post(url, content=body, headers={"X-Write-Key": dataset.write_key, **headers})


def test_csv_over_http_is_stored_and_read_back(csv_client, settings):
    dataset = make_dataset(settings, variables=("temperature", "humidity"))
    body = b"temperature,21.5,2026-03-01T12:00:00Z\nhumidity,40,2026-03-01T12:00:00Z\n"
    response = post(csv_client, dataset, body)
    assert response.status_code == 202, response.text
    assert drain(settings) == 1
    assert rows(csv_client, dataset) == [
        ("humidity", 40, "2026-03-01T12:00:00Z"),
        ("temperature", 21.5, "2026-03-01T12:00:00Z"),
    ]


def test_csv_bad_input_is_refused_naming_the_line_and_queues_nothing(csv_client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    bad_line = post(csv_client, dataset, b"temperature,1\ntemperature\n")
    assert bad_line.status_code == 400 and "line 2" in bad_line.json()["detail"]
    unknown = post(csv_client, dataset, b"pressure,1\n")
    assert unknown.status_code == 400 and "'pressure'" in unknown.json()["detail"]
    wrong_key = post(csv_client, dataset, b"temperature,1\n", **{"X-Write-Key": "nope"})
    assert wrong_key.status_code == 401
    assert queued_jobs(settings) == 0


def test_csv_resend_with_the_same_idempotency_key_is_queued_once(csv_client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    for _ in range(2):
        assert post(csv_client, dataset, b"temperature,3\n", **{"Idempotency-Key": "k"}).status_code == 202
    assert drain(settings) == 1


def test_csv_over_mqtt_registered_topic_reaches_the_database(csv_client, settings: Settings):
    dataset = make_dataset(settings, variables=("temperature",))
    device = Credential(dataset.id, "device", "car-1", ("temperature",))
    dispatcher = Dispatcher(settings, lambda key: None, lambda dataset_id, name: device)
    topic = f"registered/{dataset.id}/car-1/csv"
    outcome = dispatcher.dispatch(topic, b"temperature,7,2026-03-01T12:00:00Z", 1.0)
    assert outcome.verdict == "accepted" and outcome.message is not None
    assert (outcome.message["format"], outcome.message["device"]) == ("csv", "car-1")
    refused = dispatcher.dispatch(topic, b"temperature", 1.0)  # no one to answer: a rejected record instead
    assert refused.verdict == "rejected" and refused.message is not None
    receiver = Receiver(settings)  # the bridge's enqueue path
    try:
        receiver.enqueuer.enqueue([outcome.message, refused.message])
    finally:
        receiver.close()
    drain(settings)
    assert rows(csv_client, dataset) == [("temperature", 7, "2026-03-01T12:00:00Z")]
    listed = csv_client.get(f"/api/v1/datasets/{dataset.id}/rejected", params={"key": dataset.read_key}).json()
    assert [(r["format"], "expected variable,value" in r["reason"]) for r in listed["records"]] == [("csv", True)]
