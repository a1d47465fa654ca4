"""Ingest formats: one module per wire format, a payload in, a queue message out; the twin of the worker's
NORMALIZERS (services/worker/normalize/).

HTTP routes and the MQTT dispatcher look formats up here. Adding a protocol: a module with an `accept` and its
`FORMAT`, an entry below, a normalizer, a `Format` value in shared/queue.py, and its routes or topics
(CONTRIBUTING.md has the recipe).
"""

from __future__ import annotations

from services.ingest.formats import autopi, bulk, lineproto, native, push, telemetry
from services.ingest.formats.base import Accept, IngestFormat, Limits

FORMATS: dict[str, IngestFormat] = {
    module.FORMAT.name: module.FORMAT for module in (push, bulk, native, autopi, lineproto, telemetry)
}
# `registered/{dataset}/{device}/{topic}`: the topic name -> the format's name
TOPICS: dict[str, str] = {f.topic: f.name for f in FORMATS.values() if f.topic is not None}


def register(fmt: IngestFormat) -> None:
    """Add a format (and its MQTT topic name) to the tables the transports read."""
    FORMATS[fmt.name] = fmt
    if fmt.topic is not None:
        TOPICS[fmt.topic] = fmt.name


__all__ = ["FORMATS", "TOPICS", "Accept", "IngestFormat", "Limits", "register"]
