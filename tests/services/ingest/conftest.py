"""MQTT fixtures: a private broker from the shipped configuration, and a bridge running in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ingest.mqtt import Bridge
from shared.config import Settings
from tests.support.http import wait_for
from tests.support.mqtt import PrivateBroker, start_broker


@pytest.fixture
def broker(settings: Settings, tmp_path: Path) -> Iterator[PrivateBroker]:
    """Mosquitto with deploy/mosquitto's policy on a free port (never the machine's shared 1883)."""
    private = start_broker(tmp_path / "mosquitto", settings)
    yield private
    private.stop()


@pytest.fixture
def bridge(broker: PrivateBroker) -> Iterator[Bridge]:
    """A bridge in this process, subscribed."""
    running = Bridge(broker.settings, client_id="test-bridge")
    running.start()
    wait_for(running.subscribed.is_set, timeout=15, what="bridge subscribed")
    yield running
    running.stop()
