"""Dead letters: a job that fails past its retries is listed, shown to the dataset's owner, requeued once."""

from __future__ import annotations

import orjson
import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from services.worker import tasks
from shared.config import get_settings
from shared.queue import enqueue_messages, ingest_queue, make_message
from tests.support.dashboard import form_login
from tests.support.db import reading_count
from tests.support.factories import make_dataset
from tests.support.processes import run_cli
from tests.support.services import free_port
from tests.support.worker import drain


def native(dataset_id: int, start: int, stop: int) -> dict:
    body = {
        "readings": [{"time": f"2026-01-01T00:00:{i:02d}Z", "values": {"temperature": i}} for i in range(start, stop)]
    }
    return make_message("native", dataset_id, orjson.dumps(body).decode(), source="cli")


def run_with_database_down(settings, monkeypatch) -> None:
    """Work the queue while PostgreSQL cannot be reached, so every job fails until its retries are gone."""
    monkeypatch.setenv("OWNSTREAM_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    monkeypatch.setenv("OWNSTREAM_WRITE_PATIENCE_S", "0")
    get_settings.cache_clear()
    tasks.reset_writer()
    redis = Redis.from_url(settings.redis_url)
    try:
        SimpleWorker([ingest_queue(redis, settings)], connection=redis, serializer=JSONSerializer).work(
            burst=True, logging_level="CRITICAL"
        )
    finally:
        monkeypatch.setenv("OWNSTREAM_DATABASE_URL", settings.database_url)
        monkeypatch.delenv("OWNSTREAM_WRITE_PATIENCE_S")
        get_settings.cache_clear()
        tasks.reset_writer()


def cli_json(*args: str):
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_failed_job_is_listed_and_stored_once_after_requeue(client, settings, monkeypatch):
    dataset = make_dataset(settings, variables=("temperature",))
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    enqueue_messages(queue, settings, [native(dataset.id, 0, 5)])
    drain(settings)
    assert reading_count(settings, dataset.id) == 5
    retry_once = settings.model_copy(update={"job_retry_max": 1})
    # a resend of what is stored already, and new readings: both fail while the database is down
    enqueue_messages(queue, retry_once, [native(dataset.id, 0, 5), native(dataset.id, 5, 8)])
    run_with_database_down(settings, monkeypatch)

    listed = cli_json("failed", "list")
    assert len(listed) == 1 and listed[0]["datasets"] == [dataset.id] and listed[0]["messages"] == 2
    assert "OperationalError" in listed[0]["error"] or "connection" in listed[0]["error"]
    shown = cli_json("failed", "show", listed[0]["id"])
    assert "Traceback" in shown["exc_info"] and shown["formats"] == ["native"]
    assert cli_json("status")["failed_jobs"] == 1
    human = run_cli("failed", "list")
    assert human.returncode == 0 and listed[0]["id"] in human.stdout

    form_login(client)
    page = client.get(f"/dashboard/datasets/{dataset.id}")
    assert 'data-failed-jobs="1"' in page.text

    assert cli_json("failed", "requeue", "--all") == {"requeued": [listed[0]["id"]], "not_found": []}
    drain(settings)
    assert reading_count(settings, dataset.id) == 8  # the resent five once, the three new ones once
    assert cli_json("failed", "list") == []
    again = run_cli("failed", "requeue", listed[0]["id"])
    assert again.returncode == 1 and "no failed job" in again.stderr
    assert "data-failed-jobs" not in client.get(f"/dashboard/datasets/{dataset.id}").text


@pytest.mark.parametrize("args", [("failed", "requeue"), ("failed", "purge", "x", "--all")])
def test_requeue_and_purge_need_ids_or_all(settings, args):
    result = run_cli(*args)
    assert result.returncode == 2 and "--all" in result.stderr


def test_purge_deletes_failed_jobs(settings, monkeypatch):
    dataset = make_dataset(settings, variables=("temperature",))
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    enqueue_messages(queue, settings.model_copy(update={"job_retry_max": 1}), [native(dataset.id, 0, 3)])
    run_with_database_down(settings, monkeypatch)
    job_id = cli_json("failed", "list")[0]["id"]
    assert run_cli("failed", "show", "nope").returncode == 1
    assert cli_json("failed", "purge", job_id) == {"purged": [job_id], "not_found": []}
    assert cli_json("failed", "list") == []
    assert queue.fetch_job(job_id) is None
