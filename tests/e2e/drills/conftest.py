"""A drill's private stack: its own Redis (deploy/redis.conf) and Mosquitto, the test's database, processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.config import Settings
from tests.support.drills import PrivateRedis, Stack, stack_env
from tests.support.factories import MadeDataset, make_dataset, make_device
from tests.support.mqtt import PrivateBroker, start_broker


@dataclass
class Drill:
    stack: Stack
    redis: PrivateRedis
    broker: PrivateBroker
    dataset: MadeDataset
    token: str
    database_url: str


def build(settings: Settings, tmp_path: Path, database_url: str, server_logs: tuple[Path, ...] = ()) -> Iterator[Drill]:
    redis = PrivateRedis(tmp_path / "redis")
    broker = start_broker(tmp_path / "mosquitto", settings)
    on_db = settings.model_copy(update={"database_url": database_url})
    dataset = make_dataset(on_db, variables=("http", "mqtt"))
    token = make_device(on_db, dataset.id, "drill-device")
    (tmp_path / "logs").mkdir()
    stack = Stack(
        tmp_path / "logs",
        on_db,
        stack_env(settings, database_url=database_url, redis_url=redis.url, mqtt_url=broker.url),
        server_logs=[broker.directory / "mosquitto.log", *server_logs],
    )
    try:
        yield Drill(stack, redis, broker, dataset, token, database_url)
    finally:
        stack.stop_all()
        broker.stop()
        redis.kill()


@pytest.fixture
def drill(settings: Settings, tmp_path: Path) -> Iterator[Drill]:
    """Private Redis and broker, the test's own database on the shared PostgreSQL."""
    yield from build(settings, tmp_path, settings.database_url)
