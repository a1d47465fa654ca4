"""The `ownstream` command, run as a real process: users, datasets, status, burst workers."""

from __future__ import annotations

import orjson
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from shared.keys import hash_key
from shared.queue import INGEST_JOB, enqueue_messages, ingest_queue, make_message
from tests.support.db import scalar
from tests.support.processes import run_cli
from tests.support.worker import drain

PASSWORD = "a long enough password"


def test_user_create_reads_the_password_from_stdin(client, settings):
    result = run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "created user alice" in result.stdout and result.stderr == ""  # a result, for people: on stdout
    login = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
    again = run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert again.returncode == 1 and "exists" in again.stderr
    short = run_cli("user", "create", "bob", "--password-stdin", input="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    assert scalar(settings, "select count(*) from users") == 1


def test_dataset_create_prints_usable_keys_once(client, settings):
    assert run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD).returncode == 0
    result = run_cli(
        "dataset",
        "create",
        "--owner",
        "alice",
        "--name",
        "Garden",
        "--var",
        "temperature:Temperature",
        "--var",
        "soil",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    created = orjson.loads(result.stdout)
    assert set(created) == {"id", "name", "read_key", "write_key", "accept_new_variables"}
    assert created["name"] == "Garden"
    assert created["accept_new_variables"] is False  # it declared its variables
    assert len(created["read_key"]) >= 32 and created["read_key"] != created["write_key"]
    stored = {
        kind: h
        for kind, h in [
            (
                k,
                scalar(
                    settings,
                    "select key_hash from dataset_keys where dataset_id = %s and kind = %s",
                    (created["id"], k),
                ),
            )
            for k in ("read", "write")
        ]
    }
    assert stored == {"read": hash_key(created["read_key"]), "write": hash_key(created["write_key"])}
    assert scalar(settings, "select name from variables where tag = 'temperature'") == "Temperature"

    pushed = client.get("/update", params={"key": created["write_key"], "temperature": "12.5", "soil": "dry"})
    assert pushed.status_code == 200, pushed.text
    drain(settings)
    rows = client.get(f"/api/v1/datasets/{created['id']}/data", params={"key": created["read_key"]}).json()["rows"]
    assert {r["variable"]: r["value"] for r in rows} == {"temperature": 12.5, "soil": "dry"}

    unknown = run_cli("dataset", "create", "--owner", "nobody", "--name", "X", "--json")
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr and unknown.stdout == ""


def test_status_reports_queue_depth_workers_and_failed_jobs(settings):
    redis = Redis.from_url(settings.redis_url)
    queue = ingest_queue(redis, settings)
    small_jobs = settings.model_copy(update={"enqueue_max_batch": 1})
    message = make_message("push", 1, {"temperature": "1"}, source="cli")
    enqueue_messages(queue, small_jobs, [message, message, message])
    queue.enqueue_call(INGEST_JOB, args=([{"format": "push"}],), result_ttl=0)  # malformed: this job fails
    idle = SimpleWorker([queue], connection=redis, serializer=JSONSerializer, name=f"{settings.queue_name}-idle")
    idle.register_birth()
    try:
        result = run_cli("status", "--json")
    finally:
        idle.register_death()
    assert result.returncode == 0, result.stderr
    status = orjson.loads(result.stdout)
    assert (status["queued_jobs"], status["workers"], status["failed_jobs"]) == (4, 1, 0)

    SimpleWorker([queue], connection=redis, serializer=JSONSerializer).work(burst=True, logging_level="ERROR")
    status = orjson.loads(run_cli("status", "--json").stdout)
    assert (status["queued_jobs"], status["workers"], status["failed_jobs"]) == (0, 0, 1)


def test_status_prints_its_tables_on_stdout(settings):
    result = run_cli("status")
    assert result.returncode == 0, result.stderr
    assert "queued jobs" in result.stdout and "workers alive" in result.stdout  # pipeable: `ownstream status | grep`
    assert "queued jobs" not in result.stderr


def test_burst_worker_on_an_empty_queue_succeeds(settings):
    result = run_cli("worker", "--burst")
    assert result.returncode == 0, result.stderr


def test_key_regeneration_refuses_bad_arguments(settings):
    missing = run_cli("dataset", "keys", "regenerate", "4242", "blue")
    assert missing.returncode == 2 and "read or write" in missing.stderr


def test_dataset_edit_declares_variables_and_sets_the_new_variables_rule(client, settings):
    assert run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD).returncode == 0
    created = orjson.loads(
        run_cli("dataset", "create", "--owner", "alice", "--name", "Garden", "--var", "temperature", "--json").stdout
    )
    push = {"key": created["write_key"]}
    assert client.get("/update", params={**push, "door": "open"}).status_code == 400
    edited = run_cli("dataset", "edit", str(created["id"]), "--add-var", "door:Door", "--json")
    assert edited.returncode == 0, edited.stderr
    assert [v["tag"] for v in orjson.loads(edited.stdout)["variables"]] == ["temperature", "door"]
    assert client.get("/update", params={**push, "door": "open"}).status_code == 200
    opened = run_cli("dataset", "edit", str(created["id"]), "--accept-new-variables", "--json")
    assert orjson.loads(opened.stdout)["accept_new_variables"] is True
    assert client.get("/update", params={**push, "wind": "3"}).status_code == 200
    missing = run_cli("dataset", "edit", "999999", "--accept-new-variables")
    assert missing.returncode == 1 and "no dataset 999999" in missing.stderr
    clash = run_cli("dataset", "edit", str(created["id"]), "--add-var", "temperature")
    assert clash.returncode == 1 and "exists" in clash.stderr


def test_device_list_prints_its_table_on_stdout(client, settings):
    assert run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD).returncode == 0
    created = orjson.loads(run_cli("dataset", "create", "--owner", "alice", "--name", "Cars", "--json").stdout)
    assert created["accept_new_variables"] is True  # made without variables
    assert run_cli("device", "create", "--dataset", str(created["id"]), "--device-id", "car-1").returncode == 0
    listed = run_cli("device", "list")
    assert listed.returncode == 0 and "car-1" in listed.stdout and "never" in listed.stdout
    assert "car-1" not in listed.stderr


def test_results_for_people_go_to_stdout(client, settings):
    """Keys and tokens shown once are results: on stdout, so `> file` or a pipe keeps them (messages: stderr)."""
    assert run_cli("user", "create", "alice", "--password-stdin", input=PASSWORD).returncode == 0
    made = run_cli("dataset", "create", "--owner", "alice", "--name", "Garden")
    assert made.returncode == 0 and made.stderr == "", made.stderr
    assert "read key:" in made.stdout and "write key:" in made.stdout
    dataset_id = scalar(settings, "select id from datasets where name = 'Garden'")
    regenerated = run_cli("dataset", "keys", "regenerate", str(dataset_id), "write")
    assert regenerated.returncode == 0 and f"new write key for dataset {dataset_id}:" in regenerated.stdout
    device = run_cli("device", "create", "--dataset", str(dataset_id), "--device-id", "car-1")
    assert device.returncode == 0 and "car-1" in device.stdout and "token" in device.stdout, device.stderr
    token = run_cli("token", "create", "--user", "alice")
    assert token.returncode == 0 and "token for alice:" in token.stdout, token.stderr
    removed = run_cli("device", "delete", "--dataset", str(dataset_id), "--device-id", "car-1")
    assert removed.returncode == 0 and "removed from dataset" in removed.stdout, removed.stderr
