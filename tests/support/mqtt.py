"""MQTT in tests: a private Mosquitto from the shipped configuration, publishers, and bridge processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from services.cli.broker import write_local_broker_config
from services.cli.local import port_open
from shared.config import Settings
from tests.support.http import wait_for
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PrivateBroker:
    """A mosquitto process on a free loopback port, its data in `directory`."""

    directory: Path
    port: int
    process: subprocess.Popen | None
    settings: Settings  # the test's settings pointing at this broker

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start(self) -> None:
        """Start (again) on the same port and data folder."""
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: port_open("127.0.0.1", self.port) or self.process.poll() is not None, timeout=10, what="mosquitto"
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {self.log()}")


def start_broker(
    directory: Path,
    settings: Settings,
    *,
    extra: str = "",
    dynsec: Path | None = None,
) -> PrivateBroker:
    port = free_port()
    config = write_local_broker_config(directory, port, settings, extra=extra, dynsec=dynsec)
    assert config == directory / "mosquitto.conf"
    broker = PrivateBroker(directory, port, None, settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{port}"}))
    try:
        broker.start()
    except BaseException:
        broker.stop()
        raise
    return broker


class Peer:
    """An MQTT v5 client that records its CONNACK, SUBACKs, PUBACK reason codes and what it hears."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None) -> None:
        self.connack: mqtt.ReasonCode | None = None
        self.granted: list = []
        self.heard: list[str] = []
        self.disconnected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: setattr(self, "connack", rc)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.extend(codes)
        self.client.on_message = lambda c, u, m: self.heard.append(m.topic)
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(lambda: self.connack is not None, what="CONNACK")

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, payload: str = "1") -> mqtt.ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        codes: list = []
        self.client.on_publish = lambda c, u, mid, rc, p: codes.append(rc)
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)
        wait_for(lambda: codes, what="PUBACK")
        return codes[0]

    def subscribe(self, *topics: str) -> list:
        self.granted = []
        self.client.subscribe([(topic, 1) for topic in topics])
        wait_for(lambda: len(self.granted) == len(topics), what="SUBACK")
        return self.granted

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def client(
    port: int,
    *,
    client_id: str = "",
    username: str | None = None,
    password: str | None = None,
) -> mqtt.Client:
    """A connected MQTT v5 client with its network loop running."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        c.username_pw_set(username, password)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_for(c.is_connected, timeout=10, what="MQTT connection")
    return c


def publish_all(port: int, messages: Iterable[tuple[str, bytes | str]], qos: int = 1) -> int:
    """Publish `messages` from one anonymous device client and wait until the broker has acknowledged each."""
    c = client(port)
    try:
        infos = [c.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS and info.is_published(), info
        return len(infos)
    finally:
        c.disconnect()
        c.loop_stop()


@dataclass
class BridgeProcess:
    """`ownstream mqtt` as a subprocess, its counters readable over its metrics port."""

    client_id: str
    metrics_port: int
    process: subprocess.Popen
    log_path: Path
    exited: list[int] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Sample name (with labels) -> value, from the bridge's /metrics."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def subscribed(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"bridge exited with {self.process.returncode}: {self.log_path.read_text()}")
        try:
            return self.metric("ownstream_mqtt_subscribed") == 1.0
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_bridge(
    broker: PrivateBroker, directory: Path, client_id: str, env: dict[str, str] | None = None
) -> BridgeProcess:
    """A bridge process with the test's environment (plus `env`), pointed at `broker`; returns once subscribed."""
    metrics_port = free_port()
    env = {
        **os.environ,
        **(env or {}),
        "OWNSTREAM_MQTT_URL": broker.url,
        "OWNSTREAM_MQTT_METRICS_PORT": str(metrics_port),
    }
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"bridge-{client_id}-{metrics_port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "mqtt", "--client-id", client_id],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    bridge = BridgeProcess(client_id, metrics_port, process, log_path)
    try:
        wait_for(bridge.subscribed, timeout=90, interval=0.05, what=f"bridge {client_id} subscribed")
    except BaseException:
        bridge.stop()
        raise
    return bridge
