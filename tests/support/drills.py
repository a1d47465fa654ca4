"""Fault drills: a private stack (processes on free ports), a steady bounded load with known ids, and the check.

The load sends reading i over HTTP (native JSON, its own time) and over MQTT (QoS 1 telemetry without a time, so
a redelivery must be recognised to be stored once), and records which ids were acknowledged (HTTP 202, broker
PUBACK). After the fault, every acknowledged id must be stored exactly once within two minutes, with no step
taken by hand; ids never acknowledged may be missing, never doubled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from redis import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.migrate import upgrade
from tests.support.http import wait_for, wait_http
from tests.support.processes import ROOT
from tests.support.services import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BASE = datetime(2026, 3, 1, tzinfo=UTC)
RECOVERY_S = 120  # every acknowledged reading stored within this long after the fault ends
FAST_RECOVERY = {
    "OWNSTREAM_WORKER_HEARTBEAT_TTL_S": "2",
    "OWNSTREAM_WORKER_MAINTENANCE_INTERVAL_S": "1",
    "OWNSTREAM_WRITE_PATIENCE_S": "5",
    "OWNSTREAM_KEY_CACHE_POLL_S": "0.2",
}


class PrivatePostgres:
    """A PostgreSQL 15 cluster of its own on a free port; stop and start it at will.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user, in a folder of its own.
    """

    def __init__(self) -> None:
        self.directory, self.port = Path(tempfile.mkdtemp(prefix="ownstream-drill-pg-")), free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.data = self.directory / "data"
        subprocess.run(
            [
                *self.as_owner,
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.start()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute("create database ownstream")

    def dsn(self, database: str = "ownstream") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            [
                *self.as_owner,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "pg.log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.as_owner, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """redis-server with the shipped deploy/redis.conf (AOF, fsync always) on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                str(ROOT / "deploy" / "redis.conf"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=15, what="private redis")

    def answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Stack:
    """Ingest, workers and a bridge as `ownstream` processes, on private servers where the drill needs them."""

    directory: Path
    settings: Settings
    env: dict[str, str]
    ingest_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    server_logs: list[Path] = field(default_factory=list)  # the private servers' own logs (broker, PostgreSQL)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "services.cli", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def wait(
        self,
        condition: Callable[[], object],
        what: str,
        timeout: float = 60,
        interval: float = 0.1,
        load: Load | None = None,
    ) -> None:
        """wait_for, failing with the diagnosis: a drill's wait that times out says where everything stood."""
        try:
            wait_for(condition, timeout=timeout, interval=interval, what=what)
        except (TimeoutError, RuntimeError) as error:
            raise AssertionError(self.diagnosis(str(error), load)) from None

    def diagnosis(self, problem: str, load: Load | None = None) -> str:
        """The problem, the load's figures, the queue, then every process's stacks and the logs' tails."""
        parts = [problem]
        if load is not None:
            parts.append(f"load: {load.status()}")
        parts.append(f"queue: {queue_state(self)}")
        self.dump_stacks()
        parts.append(self.logs())
        return "\n".join(parts)

    def start_ingest(self) -> None:
        process = self.spawn("ingest", "serve", "ingest", "--port", str(self.ingest_port))
        try:
            wait_http(f"{self.ingest_url}/update", timeout=60, process=process)
        except (TimeoutError, RuntimeError) as error:
            raise AssertionError(f"ingest not answering: {error}\n{self.logs()}") from None

    def start_worker(self, index: int = 1, wait: bool = False) -> None:
        """A worker; with `wait`, returns once it has registered with the queue (it is taking jobs)."""
        from rq import Worker

        name = f"drill-{os.getpid()}-{index}-{time.monotonic_ns()}"
        process = self.spawn(f"worker-{index}", "worker", "--name", name)
        if wait:
            redis = Redis.from_url(self.env["OWNSTREAM_REDIS_URL"])

            def registered() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited: {self.logs()}")
                return any(worker.name == name for worker in Worker.all(connection=redis))

            self.wait(registered, timeout=60, interval=0.2, what="worker registered")

    def start_bridge(self) -> None:
        """The bridge, once subscribed (a message published before any subscription reaches no one)."""
        port = free_port()
        process = self.spawn(
            "bridge", "mqtt", "--client-id", "drill-bridge", env={"OWNSTREAM_MQTT_METRICS_PORT": str(port)}
        )

        def subscribed() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"bridge exited: {self.logs()}")
            try:
                return "ownstream_mqtt_subscribed 1.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.HTTPError:
                return False

        self.wait(subscribed, timeout=60, interval=0.1, what="bridge subscribed")

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def alive(self, name: str) -> bool:
        return name in self.processes and self.processes[name].poll() is None

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def dump_stacks(self) -> None:
        """Every live process writes its threads' stacks to its log (faulthandler on SIGABRT): where it hangs."""
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGABRT)
                process.wait(10)

    def logs(self) -> str:
        """The tail of every process's log and of the private servers' logs."""
        paths = [*sorted(self.directory.glob("*.log")), *self.server_logs]
        return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-6000:]}" for p in paths if p.exists())


def stack_env(settings: Settings, *, database_url: str, redis_url: str, mqtt_url: str) -> dict[str, str]:
    return {
        **FAST_RECOVERY,
        "OWNSTREAM_DATABASE_URL": database_url,
        "OWNSTREAM_REDIS_URL": redis_url,
        "OWNSTREAM_MQTT_URL": mqtt_url,
        "OWNSTREAM_QUEUE_NAME": settings.queue_name,
        "OWNSTREAM_REDIS_NAMESPACE": settings.redis_namespace,
    }


def migrated(settings: Settings, database_url: str) -> Settings:
    moved = settings.model_copy(update={"database_url": database_url})
    upgrade(moved.model_copy(update={"timescaledb": "off"}))
    return moved


@dataclass
class Tally:
    sent: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)


class Load:
    """A steady, bounded stream of readings with known ids over HTTP and MQTT at once.

    A sender thread that raises records the exception in `failures` (a drill then fails with it instead of
    waiting for acknowledgements that will never come); `status()` says where the load stands.
    """

    def __init__(
        self,
        ingest_url: str,
        dataset_id: int,
        write_key: str,
        device_token: str,
        broker_port: int,
        *,
        http_per_s: float = 40,
        mqtt_per_s: float = 80,
        message_ids: bool = True,
    ) -> None:
        self.ingest_url, self.dataset_id, self.write_key = ingest_url, dataset_id, write_key
        self.topic = f"devices/{device_token}/telemetry"
        self.broker_port, self.message_ids = broker_port, message_ids
        self.http_gap, self.mqtt_gap = 1 / http_per_s, 1 / mqtt_per_s
        self.http, self.mqtt = Tally(), Tally()
        self.failures: list[str] = []  # the traceback of each sender thread that died
        self.refused: Counter[str] = Counter()  # why HTTP pushes were not acknowledged: status or exception name
        self.started = time.monotonic()
        self._stop = threading.Event()
        # MQTT packet id -> reading id, until the broker's PUBACK. Never held while calling paho: paho runs
        # on_publish holding its own message lock, which publish() takes too (holding both in opposite orders
        # deadlocked the stream; see test_drill_support.py).
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}
        self._early: dict[int, bool] = {}  # PUBACKs (success?) that came before publish() returned their packet id
        self._threads = {
            "http": threading.Thread(target=self._guarded, args=("http", self._http_loop), daemon=True),
            "mqtt": threading.Thread(target=self._guarded, args=("mqtt", self._mqtt_loop), daemon=True),
        }

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads.values():
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads.values():
            thread.join(30)

    def running(self, http: int, mqtt: int) -> Callable[[], bool]:
        """A condition: more than `http` and `mqtt` readings acknowledged; raises once a sender has died."""

        def condition() -> bool:
            if self.failures:
                raise RuntimeError("a load sender died:\n" + "\n".join(self.failures))
            return len(self.http.acked) > http and len(self.mqtt.acked) > mqtt

        return condition

    def status(self) -> str:
        """Sent and acknowledged per transport, senders alive, why HTTP pushes were refused, and any failure."""
        pending = len(self._pending)  # without the lock: a diagnosis must not wait on what it diagnoses
        alive = ", ".join(f"{name} {'alive' if t.is_alive() else 'ended'}" for name, t in self._threads.items())
        return (
            f"after {time.monotonic() - self.started:.1f} s: http sent {len(self.http.sent)} acked "
            f"{len(self.http.acked)} (not acknowledged: {dict(self.refused) or 'none'}); mqtt sent "
            f"{len(self.mqtt.sent)} acked {len(self.mqtt.acked)} awaiting PUBACK {pending}; senders: {alive}"
            + ("".join(f"\nsender failure: {failure}" for failure in self.failures) if self.failures else "")
        )

    def _guarded(self, name: str, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException:  # recorded, not raised: the drill's wait and check() fail with it
            self.failures.append(f"{name}: {traceback.format_exc()}")

    def _http_loop(self) -> None:
        url = f"{self.ingest_url}/api/v1/datasets/{self.dataset_id}/readings"
        with httpx.Client(timeout=5, headers={"X-Write-Key": self.write_key}) as client:
            i = 0
            while not self._stop.wait(self.http_gap):
                moment = (BASE + timedelta(milliseconds=i)).isoformat()
                self.http.sent.add(i)
                try:
                    status = client.post(url, json={"readings": [{"time": moment, "values": {"http": i}}]}).status_code
                except httpx.HTTPError as error:  # not acknowledged: may be missing, never doubled
                    self.refused[type(error).__name__] += 1
                else:
                    if status == 202:
                        self.http.acked.add(i)
                    else:
                        self.refused[str(status)] += 1
                i += 1

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        ok = not reason_code.is_failure
        with self._lock:
            i = self._pending.pop(mid, None)
            if i is None:
                self._early[mid] = ok
                return
        if ok:
            self.mqtt.acked.add(i)

    def _mqtt_loop(self) -> None:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"drill-device-{os.getpid()}", protocol=mqtt.MQTTv5
        )
        client.on_publish = self._on_publish
        client.connect("127.0.0.1", self.broker_port)
        client.loop_start()
        try:
            i = 0
            while not self._stop.wait(self.mqtt_gap):
                properties = Properties(PacketTypes.PUBLISH)
                if self.message_ids:
                    properties.UserProperty = ("message-id", f"drill-{i}")
                self.mqtt.sent.add(i)
                info = client.publish(self.topic, orjson.dumps({"mqtt": i}), qos=1, properties=properties)
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # not queued: no PUBACK will come for it
                    self.refused["mqtt queue full"] += 1
                else:
                    with self._lock:
                        early = self._early.pop(info.mid, None)
                        if early is None:
                            self._pending[info.mid] = i
                    if early:
                        self.mqtt.acked.add(i)
                i += 1
            wait_for(lambda: not self._pending, timeout=20, what="last PUBACKs")
        except TimeoutError:
            pass  # those not acknowledged by now count as unacknowledged
        finally:
            client.disconnect()
            client.loop_stop()


def queue_state(stack: Stack) -> str:
    """The queue's jobs by state, and the first failure's reason: what to look at when a drill fails."""
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    from shared.intake import holdings_key, intake_key
    from shared.queue import ingest_queue

    try:
        redis = Redis.from_url(stack.env["OWNSTREAM_REDIS_URL"], socket_connect_timeout=2)
        queue = ingest_queue(redis, stack.settings)
        failed = FailedJobRegistry(queue=queue)
        first = queue.fetch_job(failed.get_job_ids()[0]) if len(failed) else None
        earlier = queue.count
        time.sleep(5)  # is the queue moving at all?
        holdings = redis.zrange(holdings_key(stack.settings), 0, -1, withscores=True)
        held = ", ".join(
            f"{name.decode()}: {redis.llen(name)} items, lease {lease - time.time():+.0f} s" for name, lease in holdings
        )
        return (
            f"queued {earlier}, 5 s later {queue.count}, started {len(StartedJobRegistry(queue=queue))}, "
            f"failed {len(failed)}, intake {redis.llen(intake_key(stack.settings))} items, "
            f"holding lists: {held or 'none'}, registry clean-up lock: {redis.ttl(queue.registry_cleaning_key)} s"
            + (f", first failure: {first.exc_info[-2000:] if first and first.exc_info else '?'}" if first else "")
        )
    except RedisError as error:
        return f"Redis unreachable: {error}"


def stored(database_url: str, dataset_id: int, variable: str) -> Counter:
    """How many times each reading id is stored for `variable`."""
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        rows = conn.execute(
            # hot and packed readings: the workers' maintenance packs days older than OWNSTREAM_PACK_AFTER_S
            "select coalesce(r.v_int, r.v_num::bigint) from series s"
            " cross join lateral readings_in(array[s.id], '-infinity', 'infinity') r"
            " where s.dataset_id = %s and s.variable = %s",
            (dataset_id, variable),
        ).fetchall()
    return Counter(value for (value,) in rows)


@dataclass
class Figures:
    """What a drill sent, had acknowledged, and found stored (once, twice) per transport."""

    drill: str
    sent: dict[str, int]
    acked: dict[str, int]
    stored: dict[str, int]
    duplicated: dict[str, int]
    recovered_s: float

    def line(self) -> str:
        return (
            f"DRILL {self.drill}: "
            + "; ".join(
                f"{t} sent {self.sent[t]} acked {self.acked[t]} stored {self.stored[t]} duplicated {self.duplicated[t]}"
                for t in ("http", "mqtt")
            )
            + f"; all acknowledged stored {self.recovered_s:.1f} s after the fault"
        )


def check(drill: str, load: Load, database_url: str, dataset_id: int, fault_ended: float, stack: Stack) -> Figures:
    """Every acknowledged id stored within RECOVERY_S of the fault's end, none twice, nothing never sent."""
    tallies = {"http": load.http, "mqtt": load.mqtt}

    def complete() -> bool:
        try:
            return all(tally.acked <= set(stored(database_url, dataset_id, t)) for t, tally in tallies.items())
        except psycopg.OperationalError:
            return False

    if load.failures:
        raise AssertionError(stack.diagnosis(f"{drill}: a load sender died", load))
    try:
        wait_for(
            complete,
            timeout=max(5.0, RECOVERY_S - (time.monotonic() - fault_ended)),
            interval=0.5,
            what="every acknowledged reading stored",
        )
    except TimeoutError:
        missing = {
            t: sorted(tally.acked - set(stored(database_url, dataset_id, t)))[:20] for t, tally in tallies.items()
        }
        try:
            with psycopg.connect(database_url, connect_timeout=3) as conn:
                rejected: object = conn.execute(
                    "select reason, count(*) from rejected_records where dataset_id = %s group by reason", (dataset_id,)
                ).fetchall()
        except psycopg.OperationalError as error:  # the report must not hide the failure it reports
            rejected = f"unknown ({error})"
        problem = f"{drill}: acknowledged readings missing: {missing}; rejected records: {rejected or 'none'}"
        raise AssertionError(stack.diagnosis(problem, load)) from None
    recovered = time.monotonic() - fault_ended
    counts = {t: stored(database_url, dataset_id, t) for t in tallies}
    for t, tally in tallies.items():
        doubled = {i: n for i, n in counts[t].items() if n > 1}
        assert not doubled, f"{drill}: {t} readings stored more than once: {dict(list(doubled.items())[:20])}"
        assert set(counts[t]) <= tally.sent, f"{drill}: {t} readings stored that were never sent"
    figures = Figures(
        drill,
        {t: len(x.sent) for t, x in tallies.items()},
        {t: len(x.acked) for t, x in tallies.items()},
        {t: len(counts[t]) for t in tallies},
        {t: sum(1 for n in counts[t].values() if n > 1) for t in tallies},
        max(0.0, recovered),
    )
    print(figures.line())
    return figures
