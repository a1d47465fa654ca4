"""RQ jobs. Arguments are JSON; the ingest side enqueues them by dotted name (shared.queue)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import psycopg
from redis import Redis

from services.worker.normalize import normalize
from services.worker.normalize.rows import Batch, Context
from services.worker.storage import Writer, WriteResult
from shared.config import Settings, get_settings
from shared.keys import announce_key_change
from shared.queue import QueueMessage
from shared.values import TimeWindow

log = logging.getLogger(__name__)

_writer: Writer | None = None
_redis: Redis | None = None


def writer() -> Writer:
    """The process's writer: one connection and warm caches shared by every job this worker runs."""
    global _writer
    if _writer is None:
        _writer = Writer(get_settings())
    return _writer


def reset_writer() -> None:
    """Forget the process's writer (its connection and caches), e.g. after settings changed."""
    global _writer, _redis
    if _writer is not None:
        _writer.close()
    if _redis is not None:
        _redis.close()
    _writer = _redis = None


def announce_variables(settings: Settings) -> None:
    """Tell receivers that variables were registered, so their per-dataset variable lists are read again."""
    global _redis
    if _redis is None:
        _redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    announce_key_change(_redis, settings.redis_namespace)


def ingest_batch(messages: list[QueueMessage]) -> dict[str, int]:
    """Normalize and store one batch of accepted messages; bad records are rejected, not retried."""
    settings = get_settings()
    context = Context(window=TimeWindow(settings.reading_min_year, settings.reading_max_future_s))
    try:
        result = write_patiently(normalize(messages, context), settings.write_patience_s)
    except LASTING_ERRORS:
        # Not a passing problem: retrying the batch would fail the same way. Store it message by message, so
        # one bad message is kept aside (raw, as rejected) and never holds back the others.
        log.exception("batch of %d messages could not be stored; storing them one by one", len(messages))
        result = WriteResult(0, 0, 0, 0)
        for message in messages:
            result = result + write_alone(message, context, settings.write_patience_s)
    if result.variables_registered:
        announce_variables(settings)
    log.debug("batch of %d messages: %s", len(messages), result)
    return asdict(result)


def write_patiently(batch: Batch, patience_s: float) -> WriteResult:
    """Write `batch`, riding out a short database outage; a longer one raises and RQ retries the job later."""
    deadline = time.monotonic() + patience_s
    delay = 0.1
    while True:
        try:
            return writer().write(batch)
        except psycopg.errors.ProgramLimitExceeded:
            raise
        except psycopg.OperationalError as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database write failed (%s); retrying in %.1fs", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# Errors retrying cannot mend. ProgramLimitExceeded (SQLSTATE class 54: a value too large for an index, say) is
# an OperationalError to psycopg, but it is about the data, not about the database being away.
LASTING_ERRORS = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
                  psycopg.errors.ProgramLimitExceeded)


def write_alone(message: QueueMessage, context: Context, patience_s: float) -> WriteResult:
    """One message on its own; if even that cannot be stored, the message is kept as a rejected record."""
    try:
        return write_patiently(normalize([message], context), patience_s)
    except LASTING_ERRORS as error:
        log.exception("a %s message could not be stored", message.get("format"))
        return write_patiently(reject_all([message], f"could not be stored ({type(error).__name__}: {error})"),
                               patience_s)


def reject_all(messages: list[QueueMessage], reason: str) -> Batch:
    batch = Batch()
    for message in messages:
        batch.reject(message, reason, message.get("payload"))
    return batch


def apply_retention() -> dict[int, int]:
    """Maintenance: delete readings older than their dataset's retention period."""
    return writer().apply_retention()


def pack_readings() -> int:
    """Maintenance: pack readings older than pack_after_s (services.worker.packing)."""
    return writer().pack()


def ensure_partitions() -> None:
    """Maintenance: create the readings partitions for now and the configured periods ahead."""
    writer().ensure_partitions()
