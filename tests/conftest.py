"""Fixtures: every test gets its own database (cloned from a migrated template) and a clean Redis DB."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.worker import tasks
from shared.config import Settings, get_settings
from shared.migrate import upgrade
from tests.support import services as svc

TEST_ENV = {
    "OWNSTREAM_ENVIRONMENT": "test",
    "OWNSTREAM_SECRET_KEY": "test-secret-key-not-for-production",
    "OWNSTREAM_KEY_CACHE_POLL_S": "0.05",
}


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = f"ownstream_template_{svc.checkout_tag()}_{svc.worker_id()}"
    url = svc.recreate_database(name)
    upgrade(Settings(database_url=url, timescaledb="off", environment="test"))
    yield name
    svc.drop_database(name)


@pytest.fixture
def settings(template_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This test's settings, also exported as OWNSTREAM_* so that code and subprocesses read the same."""
    name = svc.next_database_name()
    env = {
        **TEST_ENV,
        "OWNSTREAM_DATABASE_URL": svc.recreate_database(name, template=template_database),
        "OWNSTREAM_REDIS_URL": svc.redis_url(),
        "OWNSTREAM_QUEUE_NAME": f"ownstream-test-{name}",
        "OWNSTREAM_REDIS_NAMESPACE": f"ownstream-test-{name}",
        "OWNSTREAM_MQTT_URL": f"mqtt://{svc.MQTT_HOST}:{svc.MQTT_PORT}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    tasks.reset_writer()
    yield get_settings()
    tasks.reset_writer()
    get_settings.cache_clear()
    svc.drop_database(name)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The all-in-one app (ingest and API paths) in process, lifespan running."""
    from services.combined import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("OWNSTREAM_ENVIRONMENT", "test")
