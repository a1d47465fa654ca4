"""Which storage the readings live in: a TimescaleDB hypertable or native range partitions."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection, text

StorageMode = Literal["timescaledb", "partitioned"]


def detect_timescaledb(bind: Connection, wanted: str = "auto") -> bool:
    """Whether migrations should use TimescaleDB: `auto` uses it when the server offers it."""
    if wanted == "off":
        return False
    available = bind.execute(
        text("select 1 from pg_available_extensions where name = 'timescaledb'")
    ).scalar() is not None
    if wanted == "on" and not available:
        raise RuntimeError("OWNSTREAM_TIMESCALEDB=on but the server has no timescaledb extension")
    return available


def storage_mode(bind: Connection) -> StorageMode:
    """The mode recorded by the initial migration."""
    value = bind.execute(text("select value from ownstream_meta where key = 'storage_mode'")).scalar()
    return "timescaledb" if value == "timescaledb" else "partitioned"
