"""Batched writes end to end (HTTP native JSON -> Redis -> workers -> PostgreSQL) vs a plain COPY baseline.

Baseline (architecture): COPY of the same rows into a staging table + INSERT ... ON CONFLICT DO NOTHING into
`readings`, one connection. Target: Ownstream end to end >= 0.6x the baseline's rows/s.
Run: `uv run python -m bench.batch_write`.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg
from redis import Redis
from rq import Worker

from bench.stack import RESULTS, bench_env, make_dataset, ownstream, processes, wait_http
from services.worker import partitions
from shared.config import Settings
from shared.queue import ingest_queue
from tests.support.services import free_port

START = datetime(2026, 6, 1, tzinfo=UTC)

# Readings stored, hot or packed (worker maintenance may pack old readings while a benchmark waits).
STORED = "select count(*) from series s cross join lateral readings_in(array[s.id], '-infinity', 'infinity')"


def bodies(requests: int, readings: int, devices: int, variables: list[str]) -> list[bytes]:
    """`requests` native bodies of `readings` readings, each with every variable: narrow rows = product."""
    out = []
    for r in range(requests):
        batch = []
        for i in range(readings):
            n = r * readings + i
            moment = START + timedelta(seconds=n // devices)
            batch.append({"time": moment.isoformat(), "device": f"dev{n % devices}",
                          "values": {v: (n * 7 + k) % 1000 / 10 for k, v in enumerate(variables)}})
        out.append(orjson.dumps({"readings": batch}))
    return out


def stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(STORED).fetchone()[0]


def baseline(dsn: str, dataset_id: int, rows: int, series: int) -> float:
    """Rows/s of COPY into a staging table + INSERT ... ON CONFLICT DO NOTHING, same row shape."""
    with psycopg.connect(dsn, autocommit=True) as ddl:
        partitions.ensure_partitions(ddl, {partitions.period_start(START, "month")}, "month", set())
    with psycopg.connect(dsn) as conn:
        conn.execute("insert into series (dataset_id, device, variable) select %s, 'b', 'v' || g "
                     "from generate_series(1, %s) g on conflict do nothing", (dataset_id, series))
        first = conn.execute("select min(id) from series where device = 'b'").fetchone()[0]
        conn.execute("create temp table staging (series_id bigint, time timestamptz, v_num float8)")
        conn.commit()
        data = [(first + n % series, START + timedelta(seconds=n // series), n / 10) for n in range(rows)]
        began = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("copy staging from stdin (format binary)") as copy:
                copy.set_types(["int8", "timestamptz", "float8"])
                for row in data:
                    copy.write_row(row)
            cur.execute("insert into readings (series_id, time, v_num) select * from staging "
                        "on conflict do nothing")
        conn.commit()
        return rows / (time.perf_counter() - began)


def wait_workers(count: int, timeout: float = 60) -> None:
    """Wait until `count` workers listen on the queue, so start-up is not timed."""
    settings = Settings()
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=queue)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--readings", type=int, default=500)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--variables", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    variables = [f"v{i}" for i in range(args.variables)]
    total = args.requests * args.readings * args.variables

    env = bench_env("ownstream_bench_batch")
    dsn = env["OWNSTREAM_DATABASE_URL"]
    dataset = make_dataset(Settings(), variables=tuple(variables))
    payloads = bodies(args.requests, args.readings, args.devices, variables)
    port = free_port()
    commands = [ownstream("serve", "all", "--port", str(port), "--processes", str(args.processes))]
    commands += [ownstream("worker") for _ in range(args.workers)]
    with processes(commands, env), httpx.Client(timeout=60) as client:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        wait_workers(args.workers)
        url = f"{base}/api/v1/datasets/{dataset.id}/readings"
        headers = {"X-Write-Key": dataset.write_key, "Content-Type": "application/json"}
        began = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for response in pool.map(lambda body: client.post(url, content=body, headers=headers), payloads):
                response.raise_for_status()
        acked = time.perf_counter() - began
        while stored(dsn) < total:
            if time.perf_counter() - began > 300:
                raise TimeoutError("readings not stored within 300 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - began

    print(f"ownstream: {total} rows in {elapsed:.2f}s ({total / elapsed:.0f} rows/s)", flush=True)
    base_env = bench_env("ownstream_bench_baseline")
    base_dataset = make_dataset(Settings(), variables=("v",))
    reference = baseline(base_env["OWNSTREAM_DATABASE_URL"], base_dataset.id, total, args.devices * args.variables)
    ours = total / elapsed
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "batched writes end to end (native JSON over HTTP)",
        "settings": vars(args),
        "rows": total,
        "ownstream_rows_per_s": round(ours),
        "ownstream_acked_rows_per_s": round(total / acked),
        "baseline_copy_insert_rows_per_s": round(reference),
        "ratio": round(ours / reference, 3),
        "target": "ratio >= 0.6",
    }
    out = RESULTS / "batch_write.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(record)
    out.write_text(json.dumps(history, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
