"""`ownstream mqtt`: the MQTT bridge. Subscribes to the device topics, enqueues like HTTP, acks when durable.

With OWNSTREAM_MQTT_DYNSEC on it also subscribes to `registered/...`, where the broker has authenticated the
device (its own account, shared/broker_accounts.py), so the topic names the device instead of carrying a token.

Any number of bridges share the load through one shared subscription ($share/ownstream/...). Each keeps a
persistent MQTT v5 session (clean start off, a session expiry) under a stable client id, so messages
published while it is down wait for it in the broker; it acknowledges a QoS 1 message only after the
message is in Redis (see mqtt_pump), so a bridge killed at any moment loses nothing.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from redis.exceptions import RedisError

from services.ingest.mqtt_client import BufferedClient
from services.ingest.mqtt_dispatch import Dispatcher
from services.ingest.mqtt_identity import ReceiptTimes, message_id
from services.ingest.mqtt_metrics import BridgeMetrics
from services.ingest.mqtt_pump import Pump, Received
from services.ingest.rate_limit import KeyRateLimit
from services.ingest.receiver import Receiver
from services.ingest.topics import share_group, subscriptions
from shared.bridge_lease import BridgeLease, acquire, install_id
from shared.config import DEV_MQTT_PASSWORD, Settings
from shared.intake import backlog
from shared.redis_clients import redis_client

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30


def broker_address(settings: Settings) -> tuple[str, int, str, str]:
    """(host, port, username, password) of the broker; credentials in the URL win over the settings."""
    url = urlsplit(settings.mqtt_url)
    if url.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(f"OWNSTREAM_MQTT_URL: unsupported scheme {url.scheme!r}; use mqtt://host:port")
    username = unquote(url.username) if url.username else settings.mqtt_username
    password = unquote(url.password) if url.password else settings.mqtt_password
    return url.hostname or "127.0.0.1", url.port or 1883, username, password


class Bridge:
    """One bridge process: a paho client feeding a Pump that enqueues through the shared accept path."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self.settings = settings
        self.client_id = client_id or settings.mqtt_client_id or f"ownstream-bridge-{socket.gethostname()}"
        self.metrics = BridgeMetrics()
        self.receiver = Receiver(settings, pool_size=2)
        self.redis, self.credentials = self.receiver.redis, self.receiver.credentials
        group = share_group(broker_address(settings)[3], install_id(self.redis, settings))
        self.subscriptions = subscriptions(group, registered=settings.mqtt_dynsec)
        # registered/... topics are trusted only when the broker authenticates devices (dynamic security)
        resolve_device = self.credentials.resolve_device if settings.mqtt_dynsec else None
        rate_limit = KeyRateLimit(settings.ingest_rate_per_key, settings.ingest_burst_per_key, settings.redis_namespace)
        limit = partial(rate_limit.take, self.redis) if rate_limit.enabled else None
        dispatcher = Dispatcher(settings, self.credentials.resolve, resolve_device, limit)
        enqueuer = self.receiver.enqueuer
        self.queue, self.backlog = enqueuer.queue, enqueuer.backlog
        self.receipts = ReceiptTimes(
            self.redis,
            settings.redis_namespace,
            self.client_id,
            settings.mqtt_message_id_ttl_s,
            settings.mqtt_session_expiry_s,
        )
        self.pump = Pump(
            settings,
            dispatcher,
            enqueuer.enqueue,
            self.acknowledge,
            self.metrics,
            settle=self.receipts.settle,
            room=self.room,
        )
        self._lock = threading.Lock()
        self._connected_before = False
        self._generation = 0  # bumped on every connect and disconnect: PUBACKs never cross connections
        self.subscribed = threading.Event()
        self.client = self._make_client()

    def room(self, stopping: Callable[[float], bool]) -> bool:
        """Wait while the queue's backlog is at its limit; False if the bridge is stopping meanwhile."""
        held = self.backlog.depth >= self.backlog.limit
        if held:
            self.metrics.held.set(1)
        try:
            return self.backlog.wait_for_room(lambda: backlog(self.redis, self.settings, self.queue.key), stopping)
        finally:
            if held:
                self.metrics.held.set(0)

    def _make_client(self) -> mqtt.Client:
        client = BufferedClient(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        host, port, username, password = broker_address(self.settings)
        client.username_pw_set(username, password)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.address = (host, port)
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
        properties.ReceiveMaximum = self.settings.mqtt_receive_maximum
        return properties

    # lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.receiver.open()
        self.pump.start()
        host, port = self.address
        self.client.connect_async(host, port, KEEPALIVE_S, clean_start=False, properties=self._connect_properties())
        self.client.loop_start()  # paho's thread reconnects by itself, with backoff

    def stop(self) -> None:
        """Finish (and acknowledge) the batch under way, then leave; the broker keeps the rest in the session."""
        self.pump.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.receiver.close()

    # paho callbacks (network thread) -----------------------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s (check OWNSTREAM_MQTT_USERNAME/PASSWORD)", reason_code)
            return
        with self._lock:
            self._generation += 1
            if self._connected_before:
                self.metrics.reconnects.inc()
            self._connected_before = True
        log.info("connected to %s:%s as %s (session present: %s)", *self.address, self.client_id, flags.session_present)
        # Always subscribe again: Mosquitto 2.0.11 does not restore a durable client's $share subscriptions.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        client.subscribe([(topic, options) for topic in self.subscriptions])

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._generation += 1
        self.subscribed.clear()
        self.metrics.subscribed.set(0)
        self.metrics.disconnects.inc()
        if reason_code.is_failure:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("broker refused the subscriptions: %s (is the bridge user in the broker's ACL?)", refused)
            return
        self.metrics.subscribed.set(1)
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.metrics.received.inc()
        self.metrics.received_bytes.inc(len(message.payload))
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = ""  # routed nowhere, so dropped and counted
        properties = getattr(message, "properties", None)
        self.pump.put(
            Received(
                self._generation,
                message.mid,
                message.qos,
                topic,
                bytes(message.payload),  # paho types it bytes | bytearray; bytes(b) is b
                time.time(),
                bool(message.dup),
                message_id(getattr(properties, "UserProperty", None)),
            )
        )

    # pump thread -------------------------------------------------------------------------------------------
    def acknowledge(self, batch: list[Received]) -> None:
        """PUBACK the QoS 1 messages of `batch`, in order, if they came on the connection still open."""
        with self._lock:
            generation = self._generation
            for item in batch:
                if item.qos == 0:
                    continue
                if item.generation != generation:
                    self.metrics.stale.inc()  # the broker resends it on the new connection
                    continue
                self.client.ack(item.mid, item.qos)
                self.metrics.acked.inc()


def run_bridge(settings: Settings, client_id: str | None = None) -> None:
    """Run a bridge until SIGINT or SIGTERM (or until another bridge takes its client id)."""
    if settings.environment == "production" and settings.mqtt_password == DEV_MQTT_PASSWORD:
        raise ValueError("OWNSTREAM_MQTT_PASSWORD must be set in production (and in the broker's password file)")
    host, port = broker_address(settings)[:2]
    lease = acquire_lease(settings, client_id, f"{host}:{port}")
    try:
        bridge = Bridge(settings, lease.client_id)
        if settings.mqtt_metrics_port:
            bridge.metrics.serve(settings.host, settings.mqtt_metrics_port)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        log.info("MQTT bridge %s for %s:%s, topics %s", bridge.client_id, host, port, ", ".join(bridge.subscriptions))
        lease.keep()
        bridge.start()
        while not stop.wait(0.5) and not lease.lost.is_set():
            pass
        log.info("stopping: messages not yet acknowledged stay with the broker")
        bridge.stop()
    finally:
        lease.release()


def acquire_lease(settings: Settings, client_id: str | None, broker: str) -> BridgeLease:
    """This bridge's client id lease, waiting for Redis if it is away; LeaseHeld when the id is taken."""
    redis = redis_client(settings)
    delay = 0.5
    while True:
        try:
            return acquire(redis, settings, client_id, broker)
        except RedisError as error:
            log.warning("Redis not reachable (%s); retrying in %.1fs", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10)
