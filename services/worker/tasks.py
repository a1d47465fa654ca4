"""RQ jobs. Arguments are JSON; the ingest side enqueues them by dotted name (shared.queue)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from redis import Redis
from redis.exceptions import RedisError

from services.worker.normalize import normalize
from services.worker.normalize.rows import Context
from services.worker.storage import Writer
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
    try:
        announce_key_change(_redis, settings.redis_namespace)
    except RedisError as error:  # the rows are stored; receivers that cannot reach Redis drop caches anyway
        log.warning("could not announce new variables: %s", error)


def ingest_batch(messages: list[QueueMessage]) -> dict[str, int]:
    """Normalize and store one batch of accepted messages; bad records are rejected, not retried."""
    settings = get_settings()
    context = Context(window=TimeWindow(settings.reading_min_year, settings.reading_max_future_s))
    batch = normalize(messages, context)
    result = writer().write(batch)
    if result.variables_registered:
        announce_variables(settings)
    log.info("batch of %d messages: %s", len(messages), result)
    return asdict(result)


def ensure_partitions() -> None:
    """Maintenance: create the readings partitions for now and the configured periods ahead."""
    writer().ensure_partitions()
