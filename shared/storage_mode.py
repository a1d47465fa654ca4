"""Which storage the readings live in: a TimescaleDB hypertable or native range partitions."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


def detect_timescaledb(bind: Connection, wanted: str = "auto") -> bool:
    """Whether migrations should use TimescaleDB: `auto` uses it when the server can create the extension.

    A server may list the extension yet refuse to create it (not in `shared_preload_libraries`, or no rights):
    `auto` then falls back to native partitions, inside a savepoint so the migration's transaction goes on.
    """
    if wanted == "off":
        return False
    available = (
        bind.execute(text("select 1 from pg_available_extensions where name = 'timescaledb'")).scalar() is not None
    )
    if not available:
        if wanted == "on":
            raise RuntimeError("OWNSTREAM_TIMESCALEDB=on but the server has no timescaledb extension")
        return False
    try:
        with bind.begin_nested():
            bind.execute(text("create extension if not exists timescaledb"))
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        if wanted == "on":
            raise RuntimeError(
                f"OWNSTREAM_TIMESCALEDB=on but the timescaledb extension cannot be created: {reason}"
                " (is it in shared_preload_libraries?)"
            ) from None
        log.warning("the server lists timescaledb but cannot create it (%s): using native partitions", reason)
        return False
    return True
