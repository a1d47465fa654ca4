"""The bridge's Prometheus counters, in a registry of its own (tests run several bridges in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter("ownstream_mqtt_received", "MQTT messages received", registry=self.registry)
        self.received_bytes = Counter(
            "ownstream_mqtt_received_bytes", "payload bytes of the MQTT messages received", registry=self.registry
        )
        self.enqueued = Counter("ownstream_mqtt_enqueued", "messages accepted and enqueued", registry=self.registry)
        self.rejected = Counter(
            "ownstream_mqtt_rejected",
            "messages refused and kept as rejected records",
            ["reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "ownstream_mqtt_dropped",
            "messages refused with no dataset to record them in",
            ["reason"],
            registry=self.registry,
        )
        self.acked = Counter(
            "ownstream_mqtt_acked", "QoS 1 messages acknowledged to the broker", registry=self.registry
        )
        self.stale = Counter(
            "ownstream_mqtt_stale",
            "messages left unacknowledged because their connection ended",
            registry=self.registry,
        )
        self.retries = Counter(
            "ownstream_mqtt_retries", "batches retried because Redis or PostgreSQL was away", registry=self.registry
        )

        self.reconnects = Counter(
            "ownstream_mqtt_reconnects", "connections to the broker after the first", registry=self.registry
        )
        self.disconnects = Counter(
            "ownstream_mqtt_disconnects", "connections lost (or refused) by the broker", registry=self.registry
        )
        self.subscribed = Gauge(
            "ownstream_mqtt_subscribed", "1 while the bridge's subscriptions are granted", registry=self.registry
        )
        self.held = Gauge(
            "ownstream_mqtt_backlog_held", "1 while PUBACKs are held because the queue is full", registry=self.registry
        )

    def serve(self, host: str, port: int) -> None:
        """Expose the counters over HTTP at http://host:port/metrics."""
        start_http_server(port, addr=host, registry=self.registry)

    def value(self, counter: Counter, **labels: str) -> float:
        """The current value of a counter (summed over labels unless some are given)."""
        name = counter._name  # prometheus_client keeps the name without the _total suffix here
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == f"{name}_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total
