"""Idempotency-Key: a resend gets the first answer and stores nothing new; a failed first try frees the key."""

from __future__ import annotations

from fastapi.testclient import TestClient
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.ingest import enqueue as enqueue_module
from services.ingest.idempotency import PENDING, Idempotency, Receipt
from shared.queue import make_message
from tests.support.db import queued_jobs
from tests.support.factories import make_dataset, make_device
from tests.support.worker import drain

FIELDS = ("field1", "field2")


def entries(client, dataset):
    response = client.get(f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key})
    return [(e["entry_id"], e["field1"]) for e in response.json()["feeds"]]


def test_resend_with_the_same_key_gets_the_same_entry_id_and_stores_once(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    params, headers = {"api_key": dataset.write_key, "field1": "7"}, {"Idempotency-Key": "reading-42"}
    first = client.get("/update", params=params, headers=headers)
    again = client.get("/update", params=params, headers=headers)
    assert (first.status_code, first.text) == (200, "1")
    assert (again.status_code, again.text) == (200, "1")
    assert drain(settings) == 1  # the resend queued nothing
    assert entries(client, dataset) == [(1, "7")]
    other = client.get("/update", params=params, headers={"Idempotency-Key": "reading-43"})
    assert other.text == "2"


def test_update_json_resend_answers_the_same_document(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    request = {"params": {"api_key": dataset.write_key, "field2": "x"}, "headers": {"Idempotency-Key": "k"}}
    first = client.post("/update.json", **request)
    again = client.post("/update.json", **request)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["entry_id"] == 1


def test_same_key_with_other_data_is_refused(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    headers = {"Idempotency-Key": "k"}
    assert client.get("/update", params={"api_key": dataset.write_key, "field1": "1"}, headers=headers).text == "1"
    response = client.get("/update", params={"api_key": dataset.write_key, "field1": "2"}, headers=headers)
    assert response.status_code == 409
    assert "different request" in response.json()["detail"]
    drain(settings)
    assert entries(client, dataset) == [(1, "1")]


def test_keys_are_per_dataset(client, settings):
    one = make_dataset(settings, variables=FIELDS)
    two = make_dataset(settings, name="Two", variables=FIELDS)
    headers = {"Idempotency-Key": "same"}
    assert client.get("/update", params={"api_key": one.write_key, "field1": "1"}, headers=headers).text == "1"
    assert client.get("/update", params={"api_key": two.write_key, "field1": "1"}, headers=headers).text == "1"
    drain(settings)
    assert entries(client, one) == entries(client, two) == [(1, "1")]


def test_bulk_resend_stores_once(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    body = {
        "write_api_key": dataset.write_key,
        "updates": [{"delta_t": 0, "field1": "a"}, {"delta_t": 1, "field1": "b"}],
    }
    for _ in range(2):
        response = client.post(
            f"/channels/{dataset.id}/bulk_update.json", json=body, headers={"Idempotency-Key": "batch-1"}
        )
        assert response.status_code == 202
    drain(settings)
    assert entries(client, dataset) == [(1, "a"), (2, "b")]


def queued(settings) -> int:
    return queued_jobs(settings)


def test_autopi_resend_with_the_same_key_is_queued_once(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id, "car1")
    body = b'[{"@t": "obd.bat", "@ts": "2021-02-24T09:03:09.310362", "voltage": 12.5}]'
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(2):
        response = client.post("/autopi", content=body, headers={**headers, "Idempotency-Key": "upload-1"})
        assert response.status_code == 200, response.text
    assert queued(settings) == 1  # the resend queued nothing
    client.post("/autopi", content=body, headers={**headers, "Idempotency-Key": "upload-2"})
    assert queued(settings) == 2  # another key is another upload
    drain(settings)
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key})
    assert [(r["variable"], r["value"]) for r in response.json()["rows"]] == [("obd.bat.voltage", 12.5)]


def test_influx_write_resend_with_the_same_key_is_queued_once(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    params = {"db": dataset.id, "p": dataset.write_key, "precision": "s"}
    for _ in range(2):
        response = client.post("/write", params=params, content="m v=1 1772366400", headers={"Idempotency-Key": "w"})
        assert response.status_code == 204, response.text
    assert queued(settings) == 1  # the resend queued nothing
    changed = client.post("/write", params=params, content="m v=2 1772366400", headers={"Idempotency-Key": "w"})
    assert changed.status_code == 409  # the same key for other data is refused, in InfluxDB's error shape
    assert "different request" in changed.json()["message"]
    drain(settings)
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key})
    assert [(r["variable"], r["value"]) for r in response.json()["rows"]] == [("m.v", 1)]


def test_a_first_try_whose_enqueue_failed_frees_the_key_for_the_resend(client, settings, monkeypatch):
    dataset = make_dataset(settings, variables=FIELDS)
    real = enqueue_module.add_messages
    calls = []

    def failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RedisConnectionError("Redis went away")
        return real(*args)

    monkeypatch.setattr(enqueue_module, "add_messages", failing_once)
    request = {"params": {"api_key": dataset.write_key, "field1": "5"}, "headers": {"Idempotency-Key": "retry-me"}}
    first = client.get("/update", **request)
    assert first.status_code == 503 and first.headers["Retry-After"]
    again = client.get("/update", **request)
    assert again.status_code == 200, again.text
    drain(settings)
    assert entries(client, dataset) == [(int(again.text), "5")]


def test_a_resend_while_the_first_is_in_flight_is_told_to_retry(settings):
    from services.combined import create_app

    dataset = make_dataset(settings, variables=FIELDS)
    quick = settings.model_copy(update={"idempotency_wait_s": 0.1})
    with TestClient(create_app(quick)) as client:
        idempotency = client.app.ingest.state.ingest.enqueuer.idempotency
        redis_key = idempotency.redis_key(dataset.id, "busy")
        Redis.from_url(settings.redis_url).set(redis_key, PENDING + b"other-request", ex=30)
        response = client.get(
            "/update", params={"api_key": dataset.write_key, "field1": "1"}, headers={"Idempotency-Key": "busy"}
        )
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert "in progress" in response.json()["detail"]
    assert drain(settings) == 0


def test_release_keeps_an_answer_recorded_with_the_data(settings):
    redis = Redis.from_url(settings.redis_url)
    idempotency = Idempotency(redis, settings)
    message = make_message("push", 1, {"field1": "1"}, source="http", params={"entries": 1})
    claim = idempotency.claim(1, "k", [message])
    with redis.pipeline(transaction=True) as pipe:  # the enqueue went through, its answer with it ...
        idempotency.record(pipe, claim, Receipt((5,), (1.0,)))
        pipe.execute()
    idempotency.release(claim)  # ... even though the reply to it was lost: the answer stays
    assert idempotency.claim(1, "k", [message]) == Receipt((5,), (1.0,), replayed=True)
    unrecorded = idempotency.claim(1, "other", [message])
    idempotency.release(unrecorded)
    assert redis.get(unrecorded.key) is None


def test_bad_idempotency_key_is_400(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    response = client.get(
        "/update", params={"api_key": dataset.write_key, "field1": "1"}, headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400
    assert drain(settings) == 0
