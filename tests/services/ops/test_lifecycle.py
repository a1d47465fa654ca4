"""SIGTERM to a busy worker, ingest and bridge loses nothing: every acknowledged reading is stored, once."""

from __future__ import annotations

import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from tests.services.ingest.test_mqtt_bridge_processes import telemetry
from tests.support.db import reading_count
from tests.support.factories import make_dataset, make_device
from tests.support.http import wait_for, wait_http
from tests.support.mqtt import publish_all, start_bridge
from tests.support.processes import ownstream_process
from tests.support.services import free_port
from tests.support.worker import drain

BATCH = 50
START = datetime(2026, 1, 1, tzinfo=UTC)


def body(n: int) -> bytes:
    """Request n: BATCH readings, each at its own second, so a reading stored twice would show."""
    return orjson.dumps(
        {
            "readings": [
                {
                    "time": (START + timedelta(seconds=n * BATCH + i)).isoformat(),
                    "device": "http",
                    "values": {"temperature": i},
                }
                for i in range(BATCH)
            ]
        }
    )


class Loader(threading.Thread):
    """Posts batches until the server goes away (or `limit` requests); counts the acknowledged ones."""

    def __init__(self, url: str, dataset, limit: int) -> None:
        super().__init__(daemon=True)
        self.url, self.dataset, self.limit = url, dataset, limit
        self.acknowledged = 0
        self.sent = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            for n in range(self.limit):
                try:
                    response = http.post(
                        f"{self.url}/api/v1/datasets/{self.dataset.id}/readings",
                        content=body(n),
                        headers={"X-Write-Key": self.dataset.write_key},
                    )
                except httpx.HTTPError:
                    return  # the server is gone: nothing from here on was acknowledged
                assert response.status_code in (202, 503), response.text
                if response.status_code == 202:
                    self.acknowledged += BATCH
                if n == 20:
                    self.sent.set()


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def worker_metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith(name + " "))


def test_sigterm_to_busy_worker_ingest_and_bridge_loses_nothing(settings, broker, tmp_path):
    dataset = make_dataset(settings, variables=("temperature",))
    token = make_device(settings, dataset.id, "meter")
    port, metrics_port = free_port(), free_port()
    ingest_log = (tmp_path / "ingest.log").open("wb")
    with (
        ownstream_process(
            "serve", "ingest", "--port", str(port), stdout=ingest_log, stderr=subprocess.STDOUT
        ) as ingest,
        ownstream_process("worker", "--metrics-port", str(metrics_port), stderr=subprocess.PIPE) as worker,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", process=ingest)
        bridge = start_bridge(broker, tmp_path, "bridge-a")
        loader = Loader(url, dataset, limit=400)
        publisher = threading.Thread(target=publish_all, args=(broker.port, telemetry(token, 0, 3000)), daemon=True)
        loader.start()
        publisher.start()
        try:
            # the worker is busy: jobs are flowing through it
            wait_for(
                lambda: worker_metric(metrics_port, 'ownstream_worker_jobs_total{outcome="done"}') >= 3,
                timeout=120,
                interval=0.1,
                what="worker busy",
            )
            assert stop(worker) == 0  # finishes its batch and exits cleanly
            assert b"Traceback" not in worker.stderr.read()
            wait_for(lambda: bridge.metric("ownstream_mqtt_acked_total") >= 300, timeout=120, what="bridge acks")
            bridge.process.send_signal(signal.SIGTERM)
            assert bridge.process.wait(timeout=60) == 0
            assert loader.sent.wait(120)
            assert stop(ingest) == 0  # in-flight requests get their answers, then it exits
        finally:
            bridge.stop()
        loader.join(60)
        publisher.join(120)
        assert not publisher.is_alive()
        assert "Traceback" not in bridge.log_path.read_text()
        again = start_bridge(broker, tmp_path, "bridge-a")  # picks up what waited in its session
        try:
            expected = loader.acknowledged + 3000
            wait_for(
                lambda: drain(settings) is not None and reading_count(settings, dataset.id) >= expected,
                timeout=180,
                interval=0.5,
                what=f"{expected} readings stored",
            )
        finally:
            again.stop()
    drain(settings)
    assert loader.acknowledged > 0
    assert reading_count(settings, dataset.id) == loader.acknowledged + 3000
    assert b"Traceback" not in (tmp_path / "ingest.log").read_bytes()
