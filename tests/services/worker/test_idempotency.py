"""Sending again is harmless: the same readings are stored once and counted once; a new value replaces the old."""

from __future__ import annotations

import orjson
from redis import Redis

from shared.queue import enqueue_messages, ingest_queue, make_message
from tests.support.db import entry_count, reading_count, scalar
from tests.support.factories import make_dataset
from tests.support.worker import drain

BATCH = {
    "readings": [
        {"time": "2026-02-01T10:00:00Z", "values": {"temperature": 20.5, "status": "ok"}},
        {"time": "2026-02-01T10:00:01Z", "device": "shed", "values": {"temperature": 21, "door": True}},
        {"time": "2026-02-01T10:00:02Z", "values": {"humidity": 40}},
    ]
}
ROWS = 5


def send(client, dataset):
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", json=BATCH, headers={"X-Write-Key": dataset.write_key}
    )
    assert response.status_code == 202, response.text


def test_batch_sent_twice_across_jobs_is_stored_once(client, settings):
    dataset = make_dataset(settings)
    send(client, dataset)
    drain(settings)
    assert reading_count(settings, dataset.id) == ROWS
    assert entry_count(settings, dataset.id) == ROWS
    send(client, dataset)
    assert drain(settings) == 1
    assert reading_count(settings, dataset.id) == ROWS
    assert entry_count(settings, dataset.id) == ROWS


def test_batch_sent_twice_in_one_job_is_stored_once(settings):
    dataset = make_dataset(settings)
    body = orjson.dumps(BATCH).decode()
    message = make_message("native", dataset.id, body, source="http")
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    assert enqueue_messages(queue, settings, [message, dict(message)]) == 1
    drain(settings)
    assert reading_count(settings, dataset.id) == ROWS
    assert entry_count(settings, dataset.id) == ROWS


def test_push_with_created_at_sent_twice_is_stored_once(client, settings):
    dataset = make_dataset(settings)
    params = {"key": dataset.write_key, "temperature": "3", "created_at": "2026-02-01T10:00:00Z"}
    for _ in range(2):
        assert client.get("/update", params=params).status_code == 200
        drain(settings)
    assert reading_count(settings, dataset.id) == 1
    assert entry_count(settings, dataset.id) == 1


def test_a_resend_with_one_new_reading_stores_only_the_new_one(client, settings):
    dataset = make_dataset(settings)
    send(client, dataset)
    drain(settings)
    grown = {"readings": [*BATCH["readings"], {"time": "2026-02-01T10:00:03Z", "values": {"humidity": 41}}]}
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", json=grown, headers={"X-Write-Key": dataset.write_key}
    )
    assert response.status_code == 202
    drain(settings)
    assert reading_count(settings, dataset.id) == ROWS + 1
    assert entry_count(settings, dataset.id) == ROWS + 1


def test_a_new_value_for_a_stored_reading_replaces_it_and_is_not_a_new_entry(client, settings):
    dataset = make_dataset(settings)
    send(client, dataset)
    drain(settings)
    corrected = {"readings": [{"time": "2026-02-01T10:00:00Z", "values": {"temperature": 19.75, "status": "ok"}}]}
    for _ in range(2):  # the correction, then its resend
        response = client.post(
            f"/api/v1/datasets/{dataset.id}/readings", json=corrected, headers={"X-Write-Key": dataset.write_key}
        )
        assert response.status_code == 202
        drain(settings)
    assert reading_count(settings, dataset.id) == ROWS
    assert entry_count(settings, dataset.id) == ROWS
    assert (
        scalar(
            settings,
            "select r.v_num from readings r join series s on s.id = r.series_id "
            "where s.dataset_id = %s and s.variable = 'temperature' and s.device = ''",
            (dataset.id,),
        )
        == 19.75
    )
