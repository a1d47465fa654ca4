"""paho's MQTT client, reading its socket in large pieces.

paho reads an incoming packet with a recv() for its first byte, one per byte of its length and one for the rest,
and its network loop handles one packet per select() (loop_read reads more only for QoS 2 and outgoing messages).
At thousands of QoS 1 messages a second that was most of the bridge's network thread. This client reads up to
64 KiB per recv() and hands paho the bytes it asks for from there; its loop_read goes on until nothing is left to
read, so no complete packet waits in the buffer for a select() that would not wake for it (writing what was
queued meanwhile every ROUND packets).
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

READ_SIZE = 65_536
ROUND = 1_000  # packets read before the loop's other duties (or, with bytes still buffered, the writes) get a turn


class BufferedClient(mqtt.Client):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_from: Any = None  # the socket the buffered bytes came from
        self._read_buffer = b""
        self._read_at = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_from is not self._sock or self._read_at >= len(self._read_buffer):
            self._read_from, self._read_buffer, self._read_at = None, b"", 0  # a new connection starts afresh
            data = super()._sock_recv(max(READ_SIZE, bufsize))  # BlockingIOError when nothing waits; b"" at the end
            if not data:
                return data
            self._read_from, self._read_buffer = self._sock, data
        chunk = self._read_buffer[self._read_at : self._read_at + bufsize]
        self._read_at += len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """Read packets until none is left in the buffer, and the socket has none to give or a round is done.

        Returning with complete packets in the buffer would strand them: paho's loop waits on the socket, which
        may have nothing more to say, and they would be read only when the next keepalive answer arrives (30 s
        later: B3 runs lost their last seconds that way). So every ROUND packets, with the buffer empty (what is
        left is on the socket, where paho's loop sees it) this returns, for the loop's other duties; otherwise it
        writes what was queued meanwhile (PUBACKs) and reads on."""
        read = 0
        while True:
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
            read += 1
            if read % ROUND == 0:
                if self._read_at >= len(self._read_buffer):
                    return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
                if self.want_write() and (rc := self.loop_write()) > 0:
                    return rc


__all__ = ["BufferedClient"]
