"""Prometheus /metrics and the health endpoints of the HTTP apps."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from services.api.app import create_app as create_api_app
from services.combined import create_app
from services.ingest.fastpath import create_server as create_ingest_server
from services.worker.multijob import MultiJobWorker
from services.worker.runner import run_worker
from shared.metrics import exposition
from shared.queue import enqueue_messages, ingest_queue, make_message
from tests.support.db import reading_count
from tests.support.factories import make_dataset, make_device
from tests.support.services import free_port
from tests.support.worker import drain


def samples(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def moved(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


PUSH_OK = 'ownstream_ingest_requests_total{outcome="accepted",protocol="push"}'
PUSH_401 = 'ownstream_ingest_requests_total{outcome="unauthorized",protocol="push"}'
NATIVE_400 = 'ownstream_ingest_requests_total{outcome="bad_request",protocol="native"}'
AUTOPI_OK = 'ownstream_ingest_requests_total{outcome="accepted",protocol="autopi"}'


def test_counters_move_when_readings_are_ingested_stored_and_rejected(client, settings):
    # accepts new variables: the AutoPi record's own variable is stored, not set aside
    dataset = make_dataset(settings, variables=("temperature",), accept_new_variables=True)
    token = make_device(settings, dataset.id, "car1")
    before = samples(client)

    for value in (1, 2, 3):
        assert client.get("/update", params={"key": dataset.write_key, "temperature": value}).status_code == 200
    assert client.get("/update", params={"key": "wrong", "temperature": 1}).status_code == 401
    bad = client.post(
        f"/api/v1/datasets/{dataset.id}/readings", content=b"{not json", headers={"X-Write-Key": dataset.write_key}
    )
    assert bad.status_code == 400
    autopi = [{"@t": "obd.rpm", "@ts": "2026-01-01T00:00:00Z", "value": 900}, {"no": "type"}]
    assert (
        client.post("/autopi", content=orjson.dumps(autopi), headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    queued = samples(client)
    drain(settings)
    after = samples(client)

    assert moved(before, queued, PUSH_OK) == 3
    assert moved(before, queued, PUSH_401) == 1
    assert moved(before, queued, NATIVE_400) == 1
    assert moved(before, queued, AUTOPI_OK) == 1
    assert moved(before, queued, 'ownstream_ingest_bytes_total{protocol="native"}') == len(b"{not json")
    assert moved(before, queued, 'ownstream_ingest_bytes_total{protocol="autopi"}') == len(orjson.dumps(autopi))
    assert queued["ownstream_queue_jobs"] >= 1
    assert after["ownstream_queue_jobs"] == 0
    assert moved(queued, after, 'ownstream_readings_total{outcome="stored"}') == 4  # 3 pushes + 1 AutoPi value
    assert moved(queued, after, "ownstream_rejected_records_total") == 1
    jobs = moved(queued, after, 'ownstream_worker_jobs_total{outcome="done"}')
    assert 1 <= jobs < queued["ownstream_queue_jobs"]  # four single flushes waited in the intake: fewer jobs ran
    assert moved(queued, after, "ownstream_worker_job_rows_sum") == 4
    # readings and rejected records by protocol and source
    assert moved(queued, after, by_protocol("push", "http", "accepted")) == 3
    assert moved(queued, after, by_protocol("autopi", "http", "accepted")) == 1
    assert moved(queued, after, by_protocol("autopi", "http", "rejected")) == 1


def by_protocol(protocol: str, source: str, outcome: str) -> str:
    return f'ownstream_readings_by_protocol_total{{outcome="{outcome}",protocol="{protocol}",source="{source}"}}'


def test_worker_batches_count_their_jobs_rows_and_protocols(settings):
    """The worker takes several queued jobs per batch: jobs, messages and rows per batch, and what each
    protocol's messages made (a payload refused over MQTT counts under the protocol it came by)."""
    dataset = make_dataset(settings, variables=("temperature",))
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    messages = [
        make_message(
            "native", dataset.id, orjson.dumps({"readings": [reading(i), reading(i + 100)]}).decode(), source="http"
        )
        for i in range(5)
    ]
    messages.append(
        make_message("reject", dataset.id, "{bad", source="mqtt", params={"reason": "not JSON", "format": "telemetry"})
    )
    one_per_job = settings.model_copy(update={"enqueue_max_batch": 1})
    assert enqueue_messages(queue, one_per_job, messages) == 6
    before = metric_values()
    assert run_worker(settings.model_copy(update={"worker_batch_jobs": 20}), burst=True, metrics_port=0)
    after = metric_values()
    assert moved(before, after, 'ownstream_worker_jobs_total{outcome="done"}') == 6
    assert moved(before, after, "ownstream_worker_batch_jobs_sum") == 6
    assert moved(before, after, "ownstream_worker_batch_jobs_count") == 1  # all six in one batch
    assert moved(before, after, "ownstream_worker_job_messages_sum") == 6
    assert moved(before, after, "ownstream_worker_job_rows_sum") == 10
    assert moved(before, after, by_protocol("native", "http", "accepted")) == 10
    assert moved(before, after, by_protocol("telemetry", "mqtt", "rejected")) == 1
    assert moved(before, after, "ownstream_rejected_records_total") == 1
    assert reading_count(settings, dataset.id) == 10


def test_a_worker_stops_gathering_a_batch_once_it_holds_worker_batch_bytes_of_payload(settings):
    """Large jobs are not all taken by one worker into one transaction: a batch stops growing at about
    worker_batch_bytes of payload, so the backlog stays in the queue for the other workers."""
    dataset = make_dataset(settings, variables=("temperature",))
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    payloads = [orjson.dumps({"readings": [reading(i * 10 + k) for k in range(10, 20)]}).decode() for i in range(6)]
    assert len({len(p) for p in payloads}) == 1  # jobs of one size
    messages = [make_message("native", dataset.id, p, source="http") for p in payloads]
    assert enqueue_messages(queue, settings.model_copy(update={"enqueue_max_batch": 1}), messages) == 6
    # room for two and a half jobs: the first job and two more, then the batch is full
    capped = settings.model_copy(update={"worker_batch_jobs": 20, "worker_batch_bytes": len(payloads[0]) * 5 // 2})
    before = metric_values()
    assert run_worker(capped, burst=True, metrics_port=0)
    after = metric_values()
    assert moved(before, after, "ownstream_worker_batch_jobs_count") == 2
    assert moved(before, after, "ownstream_worker_batch_jobs_sum") == 6
    assert reading_count(settings, dataset.id) == 60


def test_a_worker_whose_queue_runs_dry_waits_once_for_more_jobs_before_its_batch(settings, monkeypatch):
    """Under a trickle of small jobs a worker lingers (OWNSTREAM_WORKER_BATCH_LINGER_MS) once the queue is empty, so
    the jobs arriving meanwhile join its batch instead of each paying a batch's fixed cost; with 0 it never waits,
    nor when it was idle for longer than the linger (a lone push is stored at once)."""
    dataset = make_dataset(settings, variables=("temperature",))
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    one_per_job = settings.model_copy(update={"enqueue_max_batch": 1})

    def jobs(first: int, count: int) -> list:
        return [
            make_message("native", dataset.id, orjson.dumps({"readings": [reading(i)]}).decode(), source="http")
            for i in range(first, first + count)
        ]

    lingered = []

    def arrivals_meanwhile(worker: MultiJobWorker) -> None:  # the linger's wait: three more jobs come in
        lingered.append(worker.batch_linger_s)
        enqueue_messages(queue, one_per_job, jobs(10 * len(lingered), 3))

    monkeypatch.setattr(MultiJobWorker, "_linger", arrivals_meanwhile)
    # A trickle: the worker wrote a batch a moment ago (never longer ago than the linger, however slow this machine)
    monkeypatch.setattr(MultiJobWorker, "_batch_done_at", float("inf"))
    enqueue_messages(queue, one_per_job, jobs(0, 2))
    before = metric_values()
    assert run_worker(settings.model_copy(update={"worker_batch_linger_ms": 20}), burst=True, metrics_port=0)
    after = metric_values()
    assert lingered and lingered[0] == 0.02
    assert moved(before, after, "ownstream_worker_batch_jobs_count") == len(lingered)
    assert moved(before, after, "ownstream_worker_batch_jobs_sum") == 2 + 3 * len(lingered)
    assert reading_count(settings, dataset.id) == 2 + 3 * len(lingered)
    assert len(lingered) == 1, "one linger per batch: after it, the batch is written with what came"

    lingered.clear()
    enqueue_messages(queue, one_per_job, jobs(100, 2))
    assert run_worker(settings.model_copy(update={"worker_batch_linger_ms": 0}), burst=True, metrics_port=0)
    assert lingered == [] and reading_count(settings, dataset.id) == 7

    # A large batch (a native request of 500 readings) does not wait: its job's fixed cost is a small part of it.
    large = {"readings": [reading(200 + i) for i in range(500)]}
    enqueue_messages(
        queue, one_per_job, [make_message("native", dataset.id, orjson.dumps(large).decode(), source="http")]
    )
    assert run_worker(settings.model_copy(update={"worker_batch_linger_ms": 20}), burst=True, metrics_port=0)
    assert lingered == [] and reading_count(settings, dataset.id) == 507

    # A worker whose last batch was written longer than the linger ago (here: never) stores a small job at once.
    monkeypatch.setattr(MultiJobWorker, "_batch_done_at", float("-inf"))
    enqueue_messages(queue, one_per_job, jobs(1000, 1))
    assert run_worker(settings.model_copy(update={"worker_batch_linger_ms": 1000}), burst=True, metrics_port=0)
    assert lingered == [] and reading_count(settings, dataset.id) == 508


def reading(i: int) -> dict:
    return {"time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "values": {"temperature": i}}


def metric_values() -> dict[str, float]:
    """This process's metrics, as /metrics shows them."""
    values: dict[str, float] = {}
    for line in exposition().decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": "ok", "redis": "ok"}


@pytest.mark.parametrize("factory", [create_ingest_server, create_api_app, create_app], ids=["ingest", "api", "all"])
def test_every_http_service_has_health_readiness_and_metrics(settings, factory):
    """What `ownstream serve ingest|api|all` runs: each answers the three on its own."""
    with TestClient(factory(settings)) as service:
        assert service.get("/healthz").json() == {"ok": True}
        assert service.get("/readyz").json() == {"ready": True, "database": "ok", "redis": "ok"}
        metrics = samples(service)
        assert metrics["ownstream_redis_up"] == 1 and "ownstream_queue_oldest_job_age_seconds" in metrics


def test_not_ready_without_the_database_or_its_replica(settings):
    away = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    for change, failing in (({"database_url": away}, "database"), ({"read_database_url": away}, "read_database")):
        with TestClient(create_api_app(settings.model_copy(update=change))) as service:
            assert service.get("/healthz").status_code == 200
            ready = service.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["ready"] is False and ready.json()[failing].startswith("unreachable")
            assert ready.json()["redis"] == "ok"


def test_not_ready_without_redis(settings):
    away = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(away)) as test_client:
        assert test_client.get("/healthz").status_code == 200
        ready = test_client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["redis"].startswith("unreachable") and ready.json()["database"] == "ok"
        assert "ownstream_redis_up 0.0" in test_client.get("/metrics").text


def test_metrics_add_up_across_http_processes(settings):
    """With several uvicorn processes, whichever answers /metrics counts the requests of all of them."""
    import httpx

    from tests.support.http import wait_http
    from tests.support.processes import ownstream_process

    dataset = make_dataset(settings, variables=("temperature",))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ownstream_process("serve", "ingest", "--port", str(port), "--processes", "2") as process:
        wait_http(f"{url}/healthz", timeout=180, process=process)
        for value in range(20):
            with httpx.Client() as http:  # a new connection each time, so both processes take some
                assert (
                    http.get(f"{url}/update", params={"key": dataset.write_key, "temperature": value}).status_code
                    == 200
                )
        seen = set()
        for _ in range(10):
            with httpx.Client() as http:
                text = http.get(f"{url}/metrics").text
            seen.add(next(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith(PUSH_OK)))
    assert seen == {20.0}
