"""Acknowledgement to readable: how long after a 202 a reading is returned by the query API, under load.

A background load of native JSON batches runs at `--rate` values/s (run.py passes half of B2's maximum); a probe
sends one reading at a time, and after its 202 polls `GET /api/v1/datasets/{id}/data` until the reading is
there. Target (architecture): p99 within 1 s at half the maximum rate.
Run: `uv run python -m bench.ack_latency --rate 50000`.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.batch_write import SHAPES, body
from bench.stack import bench_env, keep, make_dataset, ownstream, processes, wait_http
from bench.wait import wait_workers
from shared.config import Settings
from tests.support.services import free_port

PROBE_START = datetime(2026, 7, 1, tzinfo=UTC)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def load(client: httpx.Client, url: str, headers: dict, rate: float, stop: threading.Event, sent: list) -> None:
    """Native batches (500 readings x 10 values) paced to `rate` values/s until `stop`."""
    per_request = SHAPES["native"][0] * SHAPES["native"][1]
    interval = per_request / rate
    request, next_at = 0, time.perf_counter()
    while not stop.is_set():
        client.post(
            url, content=body("native", request, SHAPES["native"][0], 100, SHAPES["native"][1]), headers=headers
        ).raise_for_status()
        sent.append(per_request)
        request += 1
        next_at += interval
        if (pause := next_at - time.perf_counter()) > 0:
            stop.wait(pause)


def probe(client: httpx.Client, base: str, dataset, n: int, timeout: float = 30) -> float:
    """Seconds from the 202 of one reading to the query API returning it."""
    moment = PROBE_START + timedelta(seconds=n)
    client.post(
        f"{base}/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={"readings": [{"time": moment.isoformat(), "device": "probe", "values": {"v0": n}}]},
    ).raise_for_status()
    acked = time.perf_counter()
    params = {
        "device": "probe",
        "start": moment.isoformat(),
        "end": (moment + timedelta(seconds=1)).isoformat(),
        "key": dataset.read_key,
    }
    while client.get(f"{base}/api/v1/datasets/{dataset.id}/data", params=params).json()["count"] < 1:
        if time.perf_counter() - acked > timeout:
            raise TimeoutError(f"probe {n} not readable within {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - acked


def run(rate: float, probes: int, workers: int) -> dict:
    env = bench_env("ownstream_bench_latency")
    dataset = make_dataset(Settings(), variables=tuple(f"v{k}" for k in range(10)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    commands = [ownstream("serve", "all", "--port", str(port))] + [ownstream("worker") for _ in range(workers)]
    with processes(commands, env), httpx.Client(timeout=60) as loader, httpx.Client(timeout=60) as prober:
        wait_http(f"{base}/healthz")
        wait_workers(workers)
        stop, sent = threading.Event(), []
        thread = threading.Thread(
            target=load,
            args=(
                loader,
                f"{base}/api/v1/datasets/{dataset.id}/readings",
                {"X-Write-Key": dataset.write_key, "Content-Type": "application/json"},
                rate,
                stop,
                sent,
            ),
        )
        began = time.perf_counter()
        thread.start()
        try:
            latencies = [probe(prober, base, dataset, n) for n in range(probes)]
        finally:
            stop.set()
            thread.join()
        seconds = time.perf_counter() - began
    return {
        "rate_asked_values_per_s": round(rate),
        "rate_sent_values_per_s": round(sum(sent) / seconds),
        "probes": probes,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50_000, help="background load, values/s")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "ack to readable",
        "settings": vars(args),
        **run(args.rate, args.probes, args.workers),
        "target": "p99_ms <= 1000",
    }
    return keep("ack_latency", record)


if __name__ == "__main__":
    main()
