"""OWNSTREAM_LOG_FORMAT=json: every line a process logs is one JSON object (uvicorn's and RQ's included)."""

from __future__ import annotations

import signal
import subprocess

import httpx
import orjson

from tests.support.factories import make_dataset
from tests.support.http import wait_for, wait_http
from tests.support.processes import ownstream_process
from tests.support.services import free_port

JSON_LOGS = {"OWNSTREAM_LOG_FORMAT": "json"}


def records(output: bytes) -> list[dict]:
    """Each line of `output` as a JSON log record; fails on any line that is not one."""
    found = []
    for line in output.decode().splitlines():
        if not line.strip():
            continue
        record = orjson.loads(line)  # raises on a plain-text line
        assert {"time", "level", "logger", "message", "pid", "host"} <= set(record), line
        found.append(record)
    return found


def test_http_service_and_worker_log_one_json_object_per_line(settings, tmp_path):
    """The HTTP service logs only what goes wrong: here Redis is away, so a push is answered 503 and logged."""
    dataset = make_dataset(settings, variables=("temperature",))
    redis_away = {**JSON_LOGS, "OWNSTREAM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    port, metrics_port = free_port(), free_port()
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    with (
        serve_log.open("wb") as serve_out,
        worker_log.open("wb") as worker_out,
        ownstream_process(
            "serve", "ingest", "--port", str(port), env=redis_away, stdout=serve_out, stderr=subprocess.STDOUT
        ) as serve,
        ownstream_process(
            "worker", "--metrics-port", str(metrics_port), env=JSON_LOGS, stdout=worker_out, stderr=subprocess.STDOUT
        ) as worker,
    ):
        wait_http(f"http://127.0.0.1:{port}/healthz", process=serve)
        pushed = httpx.get(f"http://127.0.0.1:{port}/update", params={"key": dataset.write_key, "temperature": 1})
        assert pushed.status_code == 503, pushed.text
        wait_for(lambda: serve_log.read_bytes().strip(), timeout=30, what="the HTTP service's log")
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", process=worker)
        wait_for(lambda: b"metrics on" in worker_log.read_bytes(), timeout=30, what="the worker's first log line")
        for process in (serve, worker):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
    served = records(serve_log.read_bytes())
    assert any("redis unavailable" in r["message"] and r["level"] == "warning" for r in served), served
    worked = records(worker_log.read_bytes())
    assert any("metrics on" in r["message"] for r in worked), worked
    assert {r["level"] for r in served + worked} <= {"debug", "info", "warning", "error", "critical"}
