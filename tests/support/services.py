"""Real services for tests: a migrated template database cloned per test, a Redis DB per xdist worker."""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DATABASE_URL = os.environ.get("OWNSTREAM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BASE_REDIS_URL = os.environ.get("OWNSTREAM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
MQTT_HOST = os.environ.get("OWNSTREAM_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("OWNSTREAM_TEST_MQTT_PORT", "1883"))

_counter = itertools.count(1)


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def worker_index() -> int:
    return int(worker_id().removeprefix("gw") or 0)


def database_url(name: str) -> str:
    parts = urlsplit(BASE_DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(BASE_DATABASE_URL, autocommit=True)


def recreate_database(name: str, template: str | None = None) -> str:
    with admin_connection() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        else:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return database_url(name)


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def checkout_tag() -> str:
    """A short tag of this checkout, so test runs of two checkouts on one machine never share names."""
    return hashlib.sha1(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:6]


def next_database_name() -> str:
    return f"ownstream_test_{checkout_tag()}_{worker_id()}_{os.getpid()}_{next(_counter)}"


def redis_url() -> str:
    """A Redis database of this xdist worker's own (1..15), so parallel tests never share queues."""
    return f"{BASE_REDIS_URL}/{1 + worker_index() % 15}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
