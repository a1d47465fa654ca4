"""Single-reading HTTP pushes: Ownstream `/update` vs InfluxDB 1.x single-point `/write`, same machine, same run.

Target (architecture): at least half InfluxDB's requests/s, p99 at most 50 ms.
Run: `uv run python -m bench.http_update`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import UTC, datetime

import httpx
import psycopg

from bench.stack import (
    bench_env,
    influx_peer,
    install_tools,
    keep,
    make_dataset,
    ownstream,
    parse_wrk,
    processes,
    wait_http,
)
from shared.config import Settings
from tests.support.services import free_port

WRITE_LUA = 'wrk.method = "POST"\nwrk.body = "r,s=1 v=1.5"\nwrk.headers["Content-Type"] = "text/plain"\n'

# Readings stored, hot or packed (worker maintenance may pack old readings while a benchmark waits).
STORED = "select count(*) from series s cross join lateral readings_in(array[s.id], '-infinity', 'infinity')"


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def drain(dsn: str, acknowledged: int, timeout: float = 300) -> dict[str, float]:
    """How long after the load stopped the workers took to store every acknowledged push, and how many."""
    began = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = previous = -1
        while time.perf_counter() - began < timeout:
            stored = conn.execute(STORED).fetchone()[0]
            if stored >= acknowledged or (stored == previous and stored > 0 and time.perf_counter() - began > 5):
                break
            previous = stored
            time.sleep(0.5)
    return {"stored": stored, "acknowledged": acknowledged, "drained_after_s": round(time.perf_counter() - began, 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1, help="Ownstream HTTP processes (`ownstream up` starts 1)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    install_tools("wrk", "influxd")

    with influx_peer() as influx, tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        httpx.post(f"{influx}/query", data={"q": "CREATE DATABASE bench"})
        lua.write(WRITE_LUA)
        lua.flush()
        peer = wrk(f"{influx}/write?db=bench", args.seconds, args.connections, lua.name)

    env = bench_env("ownstream_bench_update")
    dataset = make_dataset(Settings(), variables=("temperature",))
    port = free_port()
    commands = [ownstream("serve", "all", "--port", str(port), "--processes", str(args.processes))]
    commands += [ownstream("worker") for _ in range(args.workers)]
    with processes(commands, env):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        httpx.get(f"{base}/update", params={"key": dataset.write_key, "temperature": "1"}).raise_for_status()
        ours = wrk(f"{base}/update?key={dataset.write_key}&temperature=21.5", args.seconds, args.connections)
        ours.update(drain(env["OWNSTREAM_DATABASE_URL"], ours["requests"] - ours["non_2xx"] + 1))

    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "single-reading HTTP push",
        "settings": vars(args),
        "influxdb_write": peer,
        "ownstream_update": ours,
        "ratio": round(ours["requests_per_s"] / peer["requests_per_s"], 3),
        "target": "ratio >= 0.5 and ownstream p99 <= 50 ms",
    }
    return keep("http_update", record)


if __name__ == "__main__":
    main()
