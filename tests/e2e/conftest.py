"""Fixtures for whole-stack tests: a real `ownstream serve all`, and a private broker with a bridge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.ingest.mqtt import Bridge
from shared.config import Settings
from tests.support.http import wait_for
from tests.support.mqtt import PrivateBroker, start_broker
from tests.support.processes import served


@pytest.fixture
def ownstream_url(settings: Settings) -> Iterator[str]:
    """`ownstream serve all` (ingest and API) on a free port, with this test's environment."""
    with served("all", "/ping") as url:
        yield url


@pytest.fixture
def private_broker(settings: Settings, tmp_path: Path) -> Iterator[PrivateBroker]:
    """Mosquitto with deploy/mosquitto's policy on a free port (never the machine's shared 1883)."""
    broker = start_broker(tmp_path / "mosquitto", settings)
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_bridge(private_broker: PrivateBroker) -> Iterator[Bridge]:
    """The MQTT bridge in this process, subscribed to the private broker."""
    running = Bridge(private_broker.settings, client_id="compat-bridge")
    running.start()
    wait_for(running.subscribed.is_set, timeout=15, what="bridge subscribed")
    yield running
    running.stop()


def data_rows(url: str, dataset_id: int, read_key: str, **params) -> list[dict]:
    """Readings through the query API, oldest first."""
    response = httpx.get(f"{url}/api/v1/datasets/{dataset_id}/data", params={"key": read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]
