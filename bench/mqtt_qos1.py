"""MQTT QoS 1 end to end: many publishing clients -> Mosquitto -> bridge(s) -> Redis -> workers -> PostgreSQL.

Each client is a `mosquitto_pub -l -q 1` process (one device token each) sending one telemetry reading per
message; the bridges PUBACK only once Redis has the messages. The figure is messages stored per second, from the
first publish to the last reading committed. Target (architecture): 10,000 messages/s with one bridge, two workers.
Run: `uv run python -m bench.mqtt_qos1 [--bridges 2]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from bench.stack import bench_env, install_tools, keep, make_dataset, ownstream, processes
from bench.wait import stored_readings, wait_workers
from shared.config import Settings
from tests.support.factories import make_device
from tests.support.mqtt import start_broker
from tests.support.services import free_port

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def subscribed(port: int) -> bool:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return False
    return "ownstream_mqtt_subscribed 1.0" in text


def lines(client: int, count: int) -> bytes:
    """`count` telemetry messages, each reading at its own millisecond (so none is a resend of another)."""
    return b"".join(
        b'{"ts":%d,"values":{"temperature":%d}}\n' % (BASE_MS + client * 10_000_000 + i, i) for i in range(count)
    )


def run(messages: int, clients: int, bridges: int, workers: int) -> dict[str, float]:
    env = bench_env(f"ownstream_bench_mqtt{bridges}")
    settings = Settings()
    dataset = make_dataset(settings, variables=("temperature",))
    tokens = [make_device(settings, dataset.id, f"dev{c}") for c in range(clients)]
    per_client = messages // clients
    total = per_client * clients
    with tempfile.TemporaryDirectory() as folder:
        broker = start_broker(Path(folder) / "mosquitto", settings)
        try:
            env = {**env, "OWNSTREAM_MQTT_URL": broker.url}
            ports = [free_port() for _ in range(bridges)]
            commands = [ownstream("mqtt", "--client-id", f"bench-bridge-{b}") for b in range(bridges)]
            commands += [ownstream("worker") for _ in range(workers)]
            with (
                processes(commands[:bridges], {**env, "OWNSTREAM_MQTT_METRICS_PORT": str(ports[0])})
                if bridges == 1
                else _bridges(commands[:bridges], env, ports),
                processes(commands[bridges:], env),
            ):
                deadline = time.monotonic() + 60
                while not all(subscribed(p) for p in ports):
                    if time.monotonic() > deadline:
                        raise TimeoutError("bridges did not subscribe")
                    time.sleep(0.1)
                wait_workers(workers)
                bodies = [lines(c, per_client) for c in range(clients)]
                began = time.perf_counter()
                publishers = [
                    subprocess.Popen(
                        [
                            "mosquitto_pub",
                            "-h",
                            "127.0.0.1",
                            "-p",
                            str(broker.port),
                            "-q",
                            "1",
                            "-l",
                            "-M",
                            "100",
                            "-t",
                            f"devices/{token}/telemetry",
                        ],
                        stdin=subprocess.PIPE,
                    )
                    for token in tokens
                ]
                for publisher, body in zip(publishers, bodies, strict=True):
                    publisher.stdin.write(body)
                    publisher.stdin.close()
                for publisher in publishers:
                    publisher.wait(timeout=600)
                published = time.perf_counter() - began
                elapsed = stored_readings(env["OWNSTREAM_DATABASE_URL"], total, began, timeout=600)
        finally:
            broker.stop()
    with psycopg.connect(env["OWNSTREAM_DATABASE_URL"]) as conn:
        rows = conn.execute("select count(*) from readings").fetchone()[0]
    return {
        "messages": total,
        "stored": rows,
        "published_s": round(published, 2),
        "elapsed_s": round(elapsed, 2),
        "messages_per_s": round(total / elapsed),
    }


def _bridges(commands, env, ports):
    """Bridge processes, each with its own metrics port."""
    from contextlib import ExitStack, contextmanager

    @contextmanager
    def started():
        with ExitStack() as stack:
            for command, port in zip(commands, ports, strict=True):
                stack.enter_context(processes([command], {**env, "OWNSTREAM_MQTT_METRICS_PORT": str(port)}))
            yield

    return started()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--bridges", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    install_tools("mosquitto_pub")
    result = run(args.messages, args.clients, args.bridges, args.workers)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "benchmark": "MQTT QoS 1 end to end",
        "settings": vars(args),
        "ownstream": result,
        "target": "messages_per_s >= 10000 with one bridge and two workers",
    }
    return keep("mqtt_qos1", record)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
