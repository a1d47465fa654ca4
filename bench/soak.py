"""Soak: mixed load (HTTP single pushes, HTTP batches, MQTT QoS 1) at half the measured maximum for a while.

    uv run python bench/soak.py --seconds 600     # the full soak (10 minutes); --seconds 30 for a short run

A private stack on loopback: a fresh database on the local PostgreSQL, Redis DB 13 under its own namespace, a
private Mosquitto, and `ownstream serve all`, two workers and a bridge as processes. First the load runs flat out
for --calibrate-s to measure the maximum of each sender (all three at once: the mixed maximum), then each sender
at half of its own maximum for --seconds. Passes when there were no errors, no process grew its resident memory
by 10 % or more (from the end of the warm-up to the end), the queue drained and every acknowledged reading was
stored exactly once (readings sent but never acknowledged, e.g. MQTT messages still in flight when a sender
stopped, may be stored too: the stored count lies between the acknowledged and the sent). Writes
bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import RESULTS, bench_env, make_dataset, ownstream, processes, wait_http
from shared.config import Settings
from shared.queue import ingest_queue
from tests.support.factories import make_device
from tests.support.mqtt import start_broker
from tests.support.services import free_port

BASE_MS = 1_767_225_600_000
BATCH = 50


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class Mixed:
    """Three senders, each at its own rate: every reading has its own time, so the stored count is exact."""

    def __init__(self, url: str, dataset, token: str, broker_port: int) -> None:
        self.url, self.dataset, self.token, self.broker_port = url, dataset, token, broker_port
        self.rates: dict[str, float] = {}  # requests/messages per second per sender; none: flat out
        self.sent = {"single": 0, "batch": 0, "mqtt": 0}  # readings
        self.acked = {"single": 0, "batch": 0, "mqtt": 0}  # readings
        self.errors = {"single": 0, "batch": 0, "mqtt": 0}  # requests or messages
        self.unconfirmed = 0  # MQTT messages published and never acknowledged when the sender stopped
        self.stop = threading.Event()
        self.serial = iter(range(10**12))
        self.lock = threading.Lock()

    def next_ms(self, count: int = 1) -> int:
        with self.lock:
            first = next(self.serial)
            for _ in range(count - 1):
                next(self.serial)
        return BASE_MS + first

    def pace(self, kind: str, started: float, sent: int) -> None:
        if rate := self.rates.get(kind):
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def single(self) -> None:
        with httpx.Client(timeout=10) as client:
            started, sent = time.monotonic(), 0
            while not self.stop.is_set():
                ms = self.next_ms()
                self.sent["single"] += 1
                try:
                    ok = (
                        client.get(
                            f"{self.url}/update",
                            params={"key": self.dataset.write_key, "field1": "1", "created_at": iso(ms)},
                        ).status_code
                        == 200
                    )
                except httpx.HTTPError:
                    ok = False
                self.acked["single"] += ok
                self.errors["single"] += not ok
                sent += 1
                self.pace("single", started, sent)

    def batch(self) -> None:
        with httpx.Client(timeout=10, headers={"X-Write-Key": self.dataset.write_key}) as client:
            started, sent = time.monotonic(), 0
            while not self.stop.is_set():
                ms = self.next_ms(BATCH)
                body = {"readings": [{"time": iso(ms + i), "values": {"temperature": i}} for i in range(BATCH)]}
                self.sent["batch"] += BATCH
                try:
                    ok = (
                        client.post(
                            f"{self.url}/api/v1/datasets/{self.dataset.id}/readings", content=orjson.dumps(body)
                        ).status_code
                        == 202
                    )
                except httpx.HTTPError:
                    ok = False
                self.acked["batch"] += BATCH if ok else 0
                self.errors["batch"] += not ok
                sent += 1
                self.pace("batch", started, sent)

    def mqtt(self) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-device", protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(500)
        client.max_queued_messages_set(2000)  # flat out, the broker's PUBACKs set the pace, not paho's memory
        answered = [0]  # PUBACKs, good or bad; on_publish runs on paho's thread and takes no lock of ours

        def on_publish(c, userdata, mid, reason_code, properties) -> None:
            if reason_code.is_failure:
                self.errors["mqtt"] += 1
            else:
                self.acked["mqtt"] += 1
            answered[0] += 1

        client.on_publish = on_publish
        client.connect("127.0.0.1", self.broker_port)
        client.loop_start()
        started, sent = time.monotonic(), 0
        while not self.stop.is_set():
            payload = orjson.dumps({"ts": self.next_ms(), "values": {"humidity": 1}})
            if client.publish(f"devices/{self.token}/telemetry", payload, qos=1).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                time.sleep(0.001)  # paho's queue is full: not sent, try the next one shortly
                continue
            self.sent["mqtt"] += 1
            sent += 1
            self.pace("mqtt", started, sent)
        deadline = time.monotonic() + 60  # the PUBACKs of what is still in flight
        while answered[0] < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        self.unconfirmed += sent - answered[0]
        client.disconnect()
        client.loop_stop()

    def run(self, seconds: float) -> dict[str, int]:
        before = dict(self.acked)
        self.stop.clear()
        threads = [threading.Thread(target=target, daemon=True) for target in (self.single, self.batch, self.mqtt)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join(30)
        return {kind: self.acked[kind] - before[kind] for kind in self.acked}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--calibrate-s", type=float, default=15)
    args = parser.parse_args()
    env = bench_env("soak")
    settings = Settings()
    port = free_port()
    dataset = make_dataset(settings, variables=("field1", "temperature", "humidity"))
    token = make_device(settings, dataset.id, "soak-device")
    with TemporaryDirectory() as scratch:
        broker = start_broker(Path(scratch), settings)
        env = {**env, "OWNSTREAM_MQTT_URL": broker.url}
        commands = [
            ownstream("serve", "all", "--port", str(port)),
            ownstream("worker"),
            ownstream("worker"),
            ownstream("mqtt", "--client-id", "soak-bridge"),
        ]
        try:
            with processes(commands, env) as procs:
                url = f"http://127.0.0.1:{port}"
                wait_http(f"{url}/healthz", timeout=180)  # a busy machine starts processes slowly
                time.sleep(3)  # the bridge subscribes
                load = Mixed(url, dataset, token, broker.port)
                flat = load.run(args.calibrate_s)
                maximum = {kind: count / args.calibrate_s for kind, count in flat.items()}
                # each sender at half of its own maximum (the batch sender's in requests, of BATCH readings each)
                load.rates = {
                    "single": max(1.0, maximum["single"] / 2),
                    "batch": max(1.0, maximum["batch"] / BATCH / 2),
                    "mqtt": max(1.0, maximum["mqtt"] / 2),
                }
                samples: list[dict[int, int]] = []  # RSS per process: after the warm-up, and at the end
                warm = min(30.0, args.seconds / 10)
                threading.Timer(warm, lambda: samples.append({p.pid: rss_kb(p.pid) for p in procs})).start()
                soak = load.run(args.seconds)
                samples.append({p.pid: rss_kb(p.pid) for p in procs})
                queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
                deadline = time.monotonic() + 300
                while queue.count and time.monotonic() < deadline:
                    time.sleep(1)
                drained = queue.count == 0
                acked, sent = sum(load.acked.values()), sum(load.sent.values())
                deadline = time.monotonic() + 120
                with psycopg.connect(settings.database_url, autocommit=True) as conn:
                    while True:
                        # hot and packed readings alike (readings_in), as every reader sees them
                        stored, distinct = conn.execute(
                            "select count(*), count(distinct (s.id, r.time)) from series s"
                            " cross join lateral readings_in(array[s.id], '-infinity', 'infinity') r"
                            " where s.dataset_id = %s",
                            (dataset.id,),
                        ).fetchone()
                        if stored >= acked or time.monotonic() > deadline:
                            break
                        time.sleep(1)
        finally:
            broker.stop()
    growth = {
        str(pid): round(100 * (samples[-1][pid] - samples[0][pid]) / samples[0][pid], 1)
        for pid in samples[0]
        if samples[0][pid]
    }
    result = {
        "command": " ".join(["uv run python bench/soak.py", *sys.argv[1:]]),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "seconds": args.seconds,
        "maximum_per_s": maximum,  # readings per second acknowledged flat out
        "rate_per_sender_per_s": load.rates,  # requests (single, batch) or messages (mqtt) per second
        "sent": load.sent,
        "acknowledged": load.acked,
        "acknowledged_during_soak": soak,
        "errors": load.errors,
        "mqtt_unconfirmed": load.unconfirmed,
        "stored": stored,
        "duplicated": stored - distinct,
        "queue_drained": drained,
        "rss_kb_start": samples[0],
        "rss_kb_end": samples[-1],
        "rss_growth_percent": growth,
    }
    passed = (
        not any(load.errors.values())
        and drained
        and acked <= stored <= sent
        and stored == distinct
        and all(g < 10 for g in growth.values())
    )
    result["passed"] = passed
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
