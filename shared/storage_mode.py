"""Which storage the readings live in: a TimescaleDB hypertable or native range partitions."""

from __future__ import annotations

from sqlalchemy import Connection, text


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
