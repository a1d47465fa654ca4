"""The bridge's paho client reads its socket in large pieces: packets that share a segment, a packet split across
segments and a packet larger than one read all arrive whole and in order; a reconnect starts with a clean buffer.

A loopback server plays the broker: it answers CONNECT with a CONNACK and then writes PUBLISH packets in the
shapes above (the bytes on the wire are MQTT 5, as Mosquitto sends them)."""

from __future__ import annotations

import socket
import threading
import time

import paho.mqtt.client as mqtt

from services.ingest.mqtt_client import READ_SIZE, ROUND, BufferedClient
from tests.support.http import wait_for

CONNACK = bytes([0x20, 0x03, 0x00, 0x00, 0x00])


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH, MQTT 5 (no properties)."""
    variable = len(topic).to_bytes(2, "big") + topic.encode() + packet_id.to_bytes(2, "big") + b"\x00"
    return bytes([0x32]) + remaining_length(len(variable) + len(payload)) + variable + payload


def read_connect(conn: socket.socket) -> None:
    first = conn.recv(1)
    assert first == b"\x10", first
    length, shift = 0, 0
    while True:
        byte = conn.recv(1)[0]
        length += (byte & 127) << shift
        shift += 7
        if not byte & 128:
            break
    while length:
        length -= len(conn.recv(length))


class FakeBroker:
    """Accepts connections one after the other and runs `script(conn)` on each, after the CONNACK."""

    def __init__(self, scripts) -> None:
        self.done = threading.Event()  # set by the test: the last connection may close
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.scripts = list(scripts)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for script in self.scripts:
            conn, _ = self.server.accept()
            with conn:
                read_connect(conn)
                conn.sendall(CONNACK)
                script(conn)

    def close(self) -> None:
        self.server.close()


def listen(port: int) -> tuple[BufferedClient, list[tuple[str, bytes]]]:
    heard: list[tuple[str, bytes]] = []
    client = BufferedClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: heard.append((m.topic, bytes(m.payload)))
    client.reconnect_delay_set(1, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, heard


def test_packets_sharing_a_segment_split_across_segments_and_larger_than_a_read_arrive_whole_in_order():
    small = [publish("a/b", f"m{i}".encode(), i + 1) for i in range(500)]
    large = publish("a/large", bytes(range(256)) * (3 * READ_SIZE // 256 + 7), 501)
    split = publish("a/split", b"x" * 1000, 502)

    def script(conn: socket.socket) -> None:
        conn.sendall(b"".join(small))  # 500 packets in a few segments
        conn.sendall(large[:10])  # a large packet's head alone, then the rest
        time.sleep(0.05)  # (the client must wait for bytes that are not there yet)
        conn.sendall(large[10:] + split[:5])
        time.sleep(0.05)
        conn.sendall(split[5:])
        broker.done.wait(10)  # keep the connection while the client reads

    broker = FakeBroker([script])
    client, heard = listen(broker.port)
    try:
        wait_for(lambda: len(heard) == 502, timeout=10, what="every message")
        assert heard[:500] == [("a/b", f"m{i}".encode()) for i in range(500)]
        assert heard[500] == ("a/large", bytes(range(256)) * (3 * READ_SIZE // 256 + 7))
        assert heard[501] == ("a/split", b"x" * 1000)
    finally:
        broker.done.set()
        client.disconnect()
        client.loop_stop()
        broker.close()


def test_a_new_connection_does_not_read_what_the_old_one_left_half_read():
    whole = publish("a/one", b"first", 1)
    cut = publish("a/cut", b"never whole" * 10, 2)

    def first(conn: socket.socket) -> None:
        conn.sendall(whole + cut[:12])  # then the connection drops mid-packet

    def second(conn: socket.socket) -> None:
        conn.sendall(publish("a/two", b"second", 3))
        broker.done.wait(15)

    broker = FakeBroker([first, second])
    client, heard = listen(broker.port)
    try:
        wait_for(lambda: ("a/two", b"second") in heard, timeout=15, what="the message after the reconnect")
        assert heard == [("a/one", b"first"), ("a/two", b"second")]
    finally:
        broker.done.set()
        client.disconnect()
        client.loop_stop()
        broker.close()


def test_a_burst_larger_than_one_round_of_reading_arrives_whole_without_waiting_for_the_keepalive():
    """Packets left in the buffer once the socket is drained are read at once: paho's loop waits on the socket,
    which says nothing more until the next keepalive answer (a B3 run once stalled for 30 s on the last ones)."""
    burst = [publish("a/b", f"m{i}".encode(), i % 65_535 + 1) for i in range(3 * ROUND + 7)]

    def script(conn: socket.socket) -> None:
        conn.sendall(b"".join(burst))  # one burst, then silence (the keepalive is a minute away)
        broker.done.wait(30)

    broker = FakeBroker([script])
    client, heard = listen(broker.port)
    try:
        wait_for(lambda: len(heard) == len(burst), timeout=10, what="the whole burst")
        assert heard == [("a/b", f"m{i}".encode()) for i in range(len(burst))]
    finally:
        broker.done.set()
        client.disconnect()
        client.loop_stop()
        broker.close()
