"""`ownstream local services`: use the configured PostgreSQL, Redis and Mosquitto, or start private ones.

For each service whose URL does not answer and points at this machine, a private instance is started from
the locally installed server binaries, with its data under `.data/`, on the URL's port.
"""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import psycopg
import typer
from psycopg import sql
from redis.exceptions import RedisError

from services.cli.console import console
from shared.config import Settings, get_settings
from shared.redis_clients import redis_client

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}

local_app = typer.Typer(help="Local development services.", no_args_is_help=True)


def postgres_binary(name: str) -> str:
    found = shutil.which(name) if name != "postgres" else None
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    if found:
        return found
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f}s")
        time.sleep(0.1)


def start_postgres(data: Path, port: int) -> None:
    pgdata = data / "postgres"
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                postgres_binary("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(
        [
            postgres_binary("pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(data / "postgres.log"),
            "-w",
            "-o",
            f"-p {port} -k {pgdata} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def ensure_postgres(settings: Settings, data: Path) -> None:
    url = urlsplit(settings.database_url)
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    dbname = (url.path or "/ownstream").lstrip("/") or "ownstream"
    if not port_open(host, port):
        if host not in LOCAL_HOSTS:
            raise RuntimeError(f"PostgreSQL at {host}:{port} does not answer")
        console.print(f"PostgreSQL: nothing answers on {host}:{port}; starting a private one in {data}/postgres")
        start_postgres(data, port)
    admin = settings.database_url.replace(url.path, "/postgres", 1) if url.path else settings.database_url
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
            console.print(f"PostgreSQL: created database {dbname}")
    console.print(f"PostgreSQL: {host}:{port}/{dbname}")


def ensure_redis(settings: Settings, data: Path) -> None:
    url = urlsplit(settings.redis_url)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    try:
        redis_client(settings).ping()
    except RedisError:
        if host not in LOCAL_HOSTS:
            raise RuntimeError(f"Redis at {host}:{port} does not answer") from None
        console.print(f"Redis: nothing answers on {host}:{port}; starting a private one (AOF on) in {data}/redis")
        (data / "redis").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                str(DEPLOY / "redis.conf"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data / "redis"),
                "--daemonize",
                "yes",
                "--logfile",
                str(data / "redis.log"),
                "--pidfile",
                str(data / "redis.pid"),
            ],
            check=True,
        )
        wait_until(lambda: port_open(host, port), "redis-server")
    console.print(f"Redis: {host}:{port}")


def ensure_mosquitto(settings: Settings, data: Path) -> None:
    url = urlsplit(settings.mqtt_url)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    if port_open(host, port):
        console.print(f"Mosquitto: {host}:{port}")
        return
    if host not in LOCAL_HOSTS:
        raise RuntimeError(f"MQTT broker at {host}:{port} does not answer")
    from services.cli.broker import init_dynamic_security, write_local_broker_config

    console.print(f"Mosquitto: nothing answers on {host}:{port}; starting a private one in {data}/mosquitto")
    store = None
    if settings.mqtt_dynsec:  # per-device accounts: the plugin, its admin, then the fixed policy
        store = init_dynamic_security(data / "mosquitto", settings.mqtt_admin_username, settings.mqtt_admin_password)
    config = write_local_broker_config(data / "mosquitto", port, settings, dynsec=store)
    subprocess.run(["mosquitto", "-d", "-c", str(config)], check=True)
    wait_until(lambda: port_open(host, port), "mosquitto")
    if store is not None:
        from shared.broker_accounts import BrokerAdmin, bootstrap

        bootstrap(BrokerAdmin.from_settings(settings), settings.mqtt_username, settings.mqtt_password)


@local_app.command("services")
def services(
    data_dir: Annotated[Path, typer.Option(help="where private instances keep their data")] = ROOT / ".data",
    mqtt: Annotated[bool, typer.Option(help="also make sure an MQTT broker answers")] = True,
) -> None:
    """Make sure PostgreSQL, Redis and Mosquitto answer at the configured URLs, starting private ones if not."""
    settings = get_settings()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        ensure_postgres(settings, data_dir)
        ensure_redis(settings, data_dir)
        if mqtt:
            ensure_mosquitto(settings, data_dir)
    except (RuntimeError, FileNotFoundError, subprocess.CalledProcessError, psycopg.Error) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
