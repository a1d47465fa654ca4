"""compose.yaml as `docker-compose config` reads it: valid, and its images, ports and variables match the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services.cli.main import app
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
OWNSTREAM_SERVICES = ("migrate", "ingest", "api", "mqtt", "worker")
ENV = {"POSTGRES_PASSWORD": "pg-secret", "OWNSTREAM_SECRET_KEY": "s" * 64, "OWNSTREAM_MQTT_PASSWORD": "mqtt-secret"}


def compose_config(extra: dict[str, str] | None = None) -> dict:
    """`docker-compose config` of compose.yaml (replica profile on) with ENV (and `extra`) as .env would give."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; .ci/run installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OWNSTREAM_", "COMPOSE_"))}
    done = subprocess.run(
        ["docker-compose", "-f", "compose.yaml", "--profile", "replica", "config"],
        cwd=ROOT,
        env={**env, **ENV, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config()


def test_the_readme_replica_setting_reaches_the_api_and_names_the_replica():
    """The README's line for .env, as written there, points the API (only) at the replica service."""
    readme = (ROOT / "README.md").read_text()
    line = re.search(r'echo "(OWNSTREAM_READ_DATABASE_URL=[^"]+)" >> \.env', readme)
    assert line is not None
    name, _, value = line.group(1).partition("=")
    value = value.replace("$POSTGRES_PASSWORD", ENV["POSTGRES_PASSWORD"])
    services = compose_config({name: value})["services"]
    api = settings_of(services["api"])
    assert urlsplit(api.read_database_url).hostname in services and "db-replica" in api.read_database_url
    assert urlsplit(api.read_database_url).path == urlsplit(api.database_url).path  # the same database
    assert urlsplit(api.read_database_url).port == 5432
    for name in ("ingest", "worker", "mqtt"):
        assert not settings_of(services[name]).read_database_url  # writers and key checks: the primary only


def commands() -> set[str]:
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    return names | {g.name for g in app.registered_groups}


def settings_of(service: dict) -> Settings:
    """The Settings a container of `service` reads from its environment (and nothing else)."""
    env = {k: v for k, v in service["environment"].items()}
    fields = {
        name.removeprefix("OWNSTREAM_").lower(): value for name, value in env.items() if name.startswith("OWNSTREAM_")
    }
    return Settings.model_validate(fields)


def test_every_service_is_there_and_runs_a_real_command(compose):
    services = compose["services"]
    assert set(services) >= {"db", "db-replica", "redis", "mosquitto", "proxy", *OWNSTREAM_SERVICES}
    for name in OWNSTREAM_SERVICES:
        service = services[name]
        assert service["image"] == "ownstream:latest" and Path(service["build"]["context"]) == ROOT
        assert service["command"][0] == "ownstream" and service["command"][1] in commands(), name
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["db-replica"]["profiles"] == ["replica"]


def test_variables_are_settings_fields(compose):
    fields = set(Settings.model_fields)
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("OWNSTREAM_"):
                assert variable.removeprefix("OWNSTREAM_").lower() in fields, (name, variable)
    for name in OWNSTREAM_SERVICES:
        settings = settings_of(compose["services"][name])  # validates: production needs a real secret
        assert settings.environment == "production" and settings.secret_key == ENV["OWNSTREAM_SECRET_KEY"]
        assert urlsplit(settings.database_url).hostname == "db"
        assert urlsplit(settings.redis_url).hostname == "redis"
        assert urlsplit(settings.mqtt_url).hostname == "mosquitto"
        assert settings.host == "0.0.0.0"


def test_images_and_ports_match_the_code(compose):
    services = compose["services"]
    db_image = services["db"]["image"]
    assert int(re.search(r"pg(\d+)", db_image).group(1)) >= 15  # PostgreSQL 15+ is required
    assert services["db-replica"]["image"] == db_image  # a replica runs the primary's major version
    assert services["redis"]["image"].startswith("redis:")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    defaults = Settings()
    ingest, api = services["ingest"]["command"], services["api"]["command"]
    assert ingest[ingest.index("--port") + 1] == str(defaults.ingest_port)
    assert api[api.index("--port") + 1] == str(defaults.api_port)
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert f"reverse_proxy ingest:{defaults.ingest_port}" in caddy
    assert f"reverse_proxy api:{defaults.api_port}" in caddy
    assert f":{defaults.port} {{" in caddy
    published = {str(p["target"]) if isinstance(p, dict) else p.split(":")[-1] for p in services["proxy"]["ports"]}
    assert str(defaults.port) in published
    mqtt = settings_of(services["mqtt"])
    mosquitto_ports = {
        int(p["target"]) if isinstance(p, dict) else int(p.split(":")[-1]) for p in services["mosquitto"]["ports"]
    }
    assert (urlsplit(mqtt.mqtt_url).port or 1883) in mosquitto_ports
    assert mqtt.mqtt_client_id and mqtt.mqtt_metrics_port
    assert settings_of(services["worker"]).worker_metrics_port
    replica = services["db-replica"]
    assert "pg_basebackup -h db -U ownstream" in " ".join(replica["entrypoint"])
    assert any("replication.sh" in volume for volume in services["db"]["volumes"])
