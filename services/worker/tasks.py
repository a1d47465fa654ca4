"""RQ jobs. Arguments are JSON; the ingest side enqueues them by dotted name (shared.queue)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import psycopg
from redis import Redis
from redis.exceptions import RedisError

from services.worker.normalize import normalize
from services.worker.normalize.rows import Batch, Context
from services.worker.storage import Writer, WriteResult
from shared import metrics, rates
from shared.config import Settings, get_settings
from shared.keys import announce_key_change
from shared.process import collection_paused
from shared.queue import QueueMessage
from shared.redis_clients import redis_client
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


def _redis_for(settings: Settings) -> Redis:
    global _redis
    if _redis is None:
        _redis = redis_client(settings)
    return _redis


def announce_variables(settings: Settings) -> None:
    """Tell receivers that variables were registered, so their per-dataset variable lists are read again."""
    announce_key_change(_redis_for(settings), settings.redis_namespace)


def ingest_batch(messages: list[QueueMessage], jobs: int = 1) -> dict[str, int]:
    """Normalize and store one batch of accepted messages (from `jobs` queued jobs: RQ runs one job's messages,
    the multi-job worker several jobs' together); bad records are rejected, not retried."""
    settings = get_settings()
    started = time.perf_counter()
    try:
        with collection_paused():  # a batch's rows, all alive until written: a fifth of a worker's CPU per value
            result = store(messages, settings)
    except Exception:
        metrics.JOBS.labels("error").inc(jobs)
        raise
    if result.variables_registered:
        announce_variables(settings)
    observe(len(messages), result, time.perf_counter() - started, jobs)
    log.debug("batch of %d messages: %s", len(messages), result)
    return asdict(result)


def observe(messages: int, result: WriteResult, seconds: float, jobs: int = 1) -> None:
    """Count one finished batch in the worker's metrics."""
    metrics.JOBS.labels("done").inc(jobs)
    metrics.BATCH_JOBS.observe(jobs)
    metrics.JOB_MESSAGES.observe(messages)
    metrics.JOB_ROWS.observe(result.stored + result.duplicates + result.unknown_dataset)
    metrics.JOB_SECONDS.observe(seconds)
    metrics.READINGS.labels("stored").inc(result.stored)
    metrics.READINGS.labels("duplicate").inc(result.duplicates)
    metrics.READINGS.labels("unknown_dataset").inc(result.unknown_dataset)
    metrics.REJECTED.inc(result.rejected)

    if result.stored:
        settings = get_settings()
        try:
            rates.record(_redis_for(settings), settings.redis_namespace, result.stored)
        except RedisError as error:  # a statistic: never a reason to fail a stored batch
            log.warning("could not record the write rate: %s", error)


def store(messages: list[QueueMessage], settings: Settings) -> WriteResult:
    """Normalize and write `messages`; one message that cannot be stored is rejected, not the batch."""
    context = Context(window=TimeWindow(settings.reading_min_year, settings.reading_max_future_s))
    try:
        batch = normalize(messages, context)
        result = write_patiently(batch, settings.write_patience_s)
        count_protocols(batch)
        return result
    except LASTING_ERRORS:
        # Not a passing problem: retrying the batch would fail the same way. Store it message by message, so
        # one bad message is kept aside (raw, as rejected) and never holds back the others.
        log.exception("batch of %d messages could not be stored; storing them one by one", len(messages))
        result = WriteResult(0, 0, 0, 0)
        for message in messages:
            result = result + write_alone(message, context, settings.write_patience_s)
        return result


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
LASTING_ERRORS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    psycopg.errors.ProgramLimitExceeded,
)


def write_alone(message: QueueMessage, context: Context, patience_s: float) -> WriteResult:
    """One message on its own; if even that cannot be stored, the message is kept as a rejected record."""
    try:
        batch = normalize([message], context)
        result = write_patiently(batch, patience_s)
    except LASTING_ERRORS as error:
        log.exception("a %s message could not be stored", message.get("format"))
        batch = reject_all([message], f"could not be stored ({type(error).__name__}: {error})")
        result = write_patiently(batch, patience_s)
    count_protocols(batch)
    return result


def reject_all(messages: list[QueueMessage], reason: str) -> Batch:
    batch = Batch()
    for message in messages:
        batch.reject(message, reason, message.get("payload"))
        batch.count(message, 0, 1)
    return batch


def count_protocols(batch: Batch) -> None:
    """Once `batch` is written: its readings and rejected records by protocol and source, in the metrics."""
    for (protocol, source), (rows, rejects) in batch.tally.items():
        if rows:
            metrics.PROTOCOL_READINGS.labels(protocol, source, "accepted").inc(rows)
        if rejects:
            metrics.PROTOCOL_READINGS.labels(protocol, source, "rejected").inc(rejects)


def apply_retention() -> dict[int, int]:
    """Maintenance: delete readings older than their dataset's retention period."""
    return writer().apply_retention()


def pack_readings() -> int:
    """Maintenance: pack readings older than pack_after_s (services.worker.packing)."""
    return writer().pack()


def ensure_partitions() -> None:
    """Maintenance: create the readings partitions for now and the configured periods ahead."""
    writer().ensure_partitions()
