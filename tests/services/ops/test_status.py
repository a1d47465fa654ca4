"""`ownstream status`: a queue that builds while no worker runs and drains when one starts."""

from __future__ import annotations

import socket

import httpx
import orjson
from redis import Redis

from shared.bridge_lease import acquire
from shared.queue import enqueue_messages, ingest_queue, make_message
from tests.support.factories import make_dataset
from tests.support.http import wait_for
from tests.support.processes import ownstream_process, run_cli
from tests.support.services import free_port


def status(*args: str) -> dict:
    result = run_cli("status", "--json", *args, timeout=180)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def worker_metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith(name))


def test_queue_builds_without_workers_and_drains_when_one_starts(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    for value in range(30):
        response = client.get(
            "/update",
            params={"key": dataset.write_key, "temperature": value, "created_at": f"2026-01-01T00:00:{value:02d}Z"},
        )
        assert response.status_code == 200, response.text
    # a payload a bridge refused: the worker keeps it as a rejected record
    refused = make_message(
        "reject", dataset.id, "{bad", source="mqtt", params={"reason": "not JSON", "format": "telemetry"}
    )
    enqueue_messages(ingest_queue(Redis.from_url(settings.redis_url), settings), settings, [refused])
    lease = acquire(Redis.from_url(settings.redis_url), settings, "bridge-status")
    lease.keep()  # as a running bridge does: refreshed while the CLI runs, however slow the machine is
    try:
        waiting = status()
        human = run_cli("status", timeout=180)
    finally:
        lease.release()
    assert waiting["queued_jobs"] >= 1 and waiting["oldest_job_age_s"] > 0
    assert waiting["workers"] == 0 and waiting["readings_per_s"] == 0
    assert waiting["bridges"] == [
        {"client_id": "bridge-status", "host": socket.gethostname(), "pid": waiting["bridges"][0]["pid"], "broker": ""}
    ]
    assert waiting["storage_mode"] == "partitioned" and waiting["readings_bytes"] >= 0
    assert waiting["failed_jobs"] == 0 and waiting["rejected_last_hour"] == 0 and waiting["database"] == "ok"
    assert human.returncode == 0 and human.stderr == "", human.stderr
    rows = {line.strip("│ ").split("│")[0].strip(): line for line in human.stdout.splitlines() if "│" in line}
    for label in (
        "queued jobs",
        "oldest job age",
        "failed jobs",
        "readings/s (last minute)",
        "rejected (last hour)",
        "storage",
        "workers alive",
        "bridges alive",
    ):
        assert label in rows, (label, human.stdout)
    assert f" {waiting['queued_jobs']} " in rows["queued jobs"] and " 1 " in rows["bridges alive"]
    assert "partitioned" in rows["storage"]
    bridge_row = next(line for line in human.stdout.splitlines() if "bridge-status" in line)
    assert socket.gethostname() in bridge_row  # with its host

    port = free_port()
    with ownstream_process("worker", "--metrics-port", str(port)):
        # no job waits once the worker has taken the last ones, but their readings and rejects count only once
        # that batch is written: the drained state is the one where all of them show
        drained = wait_for(
            lambda: (
                (s := status())["queued_jobs"] == 0
                and s["workers"] == 1
                and s["readings_per_s"] == 0.5  # 30 readings stored within the last minute
                and s["rejected_last_hour"] == 1
                and s
            ),
            timeout=60,
            interval=0.2,
            what="queue drained, 30 readings and 1 rejected record counted",
        )
        assert wait_for(
            lambda: worker_metric(port, 'ownstream_readings_total{outcome="stored"}') == 30,
            timeout=10,
            what="worker metrics",
        )
    assert drained["worker_list"][0]["host"] == socket.gethostname()
    assert drained["oldest_job_age_s"] == 0
    assert drained["rejected_last_hour"] == 1
