"""Start a private Ownstream (database, processes) and the InfluxDB peer for benchmarks; loopback only."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from redis import Redis

from shared.config import Settings
from shared.migrate import upgrade
from tests.support.factories import make_dataset
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[1]
# Debian packages of the tools benchmarks drive: each benchmark asks for its own (so it also runs alone)
TOOL_PACKAGES = {"wrk": "wrk", "mosquitto_pub": "mosquitto-clients", "influxd": "influxdb"}


def install_tools(*tools: str) -> None:
    """Install the Debian packages of `tools` that are missing (apt-get, as root)."""
    missing = sorted({TOOL_PACKAGES[tool] for tool in tools if shutil.which(tool) is None})
    if missing:
        print(f"installing {' '.join(missing)} (apt-get)", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True)


RESULTS = ROOT / "bench" / "results"


def keep(name: str, record: dict) -> dict:
    """Append `record` to bench/results/<name>.json (every run is kept), print it, and return it."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    history = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*history, record], indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return record


def fresh_database(name: str) -> str:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


BENCH_REDIS_URL = "redis://127.0.0.1:6379/13"  # the benchmarks' own Redis database


def bench_env(name: str) -> dict[str, str]:
    """A fresh database and an empty Redis database for one benchmark: work a killed or worker-less run left queued
    would otherwise be drained into this run's database and counted."""
    Redis.from_url(BENCH_REDIS_URL).flushdb()
    env = {
        "OWNSTREAM_DATABASE_URL": fresh_database(name),
        "OWNSTREAM_REDIS_URL": BENCH_REDIS_URL,
        "OWNSTREAM_QUEUE_NAME": f"bench-{name}",
        "OWNSTREAM_REDIS_NAMESPACE": f"bench-{name}",
        "OWNSTREAM_ENVIRONMENT": "test",
    }
    os.environ.update(env)
    upgrade(Settings())
    return env


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str]):
    """Start `commands`; with BENCH_PROFILE=<folder> each is also sampled by py-spy (raw stacks, one file each)."""
    procs = [subprocess.Popen(c, env={**os.environ, **env}, stdout=subprocess.DEVNULL) for c in commands]
    spies = []
    if folder := os.environ.get("BENCH_PROFILE"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        for p, command in zip(procs, commands, strict=True):
            name = "-".join(a for a in command[3:5] if not a.startswith("-"))
            out = Path(folder, f"{name}-{p.pid}.txt")
            spies.append(
                subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(p.pid),
                        "--format",
                        "raw",
                        "--rate",
                        "100",
                        "--nonblocking",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    try:
        yield procs
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in spies:
            try:
                spy.wait(timeout=20)
            except subprocess.TimeoutExpired:
                spy.kill()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def ownstream(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


@contextmanager
def influx_peer():
    """InfluxDB 1.x on a free loopback port, configured as ../shared/tools/influxdb-peer/start configures it, with
    its RPC port on a free loopback port too (two peers on one machine must not collide)."""
    # Debian's influxdb package, as ../shared/tools/influxdb-peer/start installs it; not by running that script,
    # which also starts a server of its own that no one stopped (it ran, idle, through every benchmark after)
    install_tools("influxd")
    port, rpc = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix=f"influxdb-peer-{port}-"))
    config = subprocess.run(["influxd", "config"], capture_output=True, text=True, check=True).stdout
    for old, new in (
        ("/var/lib/influxdb", str(state)),
        ("reporting-disabled = false", "reporting-disabled = true"),
        ('bind-address = "127.0.0.1:8088"', f'bind-address = "127.0.0.1:{rpc}"'),
        ('bind-address = ":8088"', f'bind-address = "127.0.0.1:{rpc}"'),
        ('bind-address = ":8086"', f'bind-address = "127.0.0.1:{port}"'),
        ("log-enabled = true", "log-enabled = false"),
        ("query-log-enabled = true", "query-log-enabled = false"),
    ):
        config = config.replace(old, new)
    (state / "influxdb.conf").write_text(config)
    with (state / "influxd.log").open("wb") as log:
        server = subprocess.Popen(
            ["influxd", "-config", str(state / "influxdb.conf")], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 204:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"InfluxDB did not start: {(state / 'influxd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(state, ignore_errors=True)


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) from `wrk --latency` output."""

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    result = {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
    }
    for pct in ("50", "90", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+(\S+)", output)
        result[f"p{pct}_ms"] = ms(match.group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    return result


__all__ = ["RESULTS", "bench_env", "influx_peer", "make_dataset", "ownstream", "parse_wrk", "processes", "wait_http"]
