"""The queue contract between receivers and workers (the rest of the contract is listed in shared/__init__.py).

A receiver turns each accepted request or MQTT message into one *message* (a JSON-able dict: raw payload plus
metadata); many messages at once become a few RQ jobs in one Redis round trip (`add_messages`, through
services/ingest/enqueue.py; `enqueue_messages` for tools and tests). Receivers name the job function by its
dotted path and never import worker code.
"""

from __future__ import annotations

import time
import zlib
from datetime import timedelta
from typing import Any, Literal, NotRequired, TypedDict

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.utils import now

from shared.config import Settings

INGEST_JOB = "services.worker.tasks.ingest_batch"
FAILED_JOB_TTL = 365 * 86_400

# One value per wire format: the receiver's services/ingest/formats FORMATS and the worker's NORMALIZERS use these
# names. "reject": a payload the receiver refused, kept in the dataset's rejected records (params: reason, format)
Format = Literal["push", "bulk", "native", "autopi", "lineproto", "telemetry", "reject"]
Source = Literal["http", "mqtt", "cli"]


class QueueMessage(TypedDict):
    """One accepted payload, as the worker receives it."""

    format: Format
    dataset_id: int
    payload: Any  # the raw form: a JSON text, a line-protocol text, or the pushed key/value pairs
    received_at: float  # epoch seconds, taken by the receiver
    source: Source
    device: NotRequired[str | None]
    # format options (precision, created_at, ...). Entry ids: a receiver asks for `entries` ids, the ingest
    # batcher allocates them at enqueue time and sets `entry_id` to the first one.
    params: NotRequired[dict[str, Any]]


def make_message(
    fmt: Format,
    dataset_id: int,
    payload: Any,
    *,
    source: Source,
    device: str | None = None,
    received_at: float | None = None,
    params: dict[str, Any] | None = None,
) -> QueueMessage:
    message: QueueMessage = {
        "format": fmt,
        "dataset_id": dataset_id,
        "payload": payload,
        "received_at": time.time() if received_at is None else received_at,
        "source": source,
    }
    if device is not None:
        message["device"] = device
    if params:
        message["params"] = params
    return message


class JobSerializer:
    """RQ's JSON serializer (`rq.serializers.JSONSerializer`) with orjson: the same JSON, so tools reading jobs with
    RQ's own serializer still can, but written and read in a tenth of the time (json.dumps of a flush's messages
    was a third of what building its job cost a receiver). Integer dict keys become strings, as with json."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)

    @staticmethod
    def loads(data: bytes | str, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


JOB_DATA_COMPRESSION = 1  # zlib level of a job's data


class IngestJob(Job):
    """RQ's job, with its data (the messages) compressed at zlib's fastest level rather than RQ's default (6).

    Receivers compress every job they queue: at level 6 that was a fifth of an HTTP process's CPU under batched
    writes (0.4-0.7 us per value). Level 1 takes a third to a fifth of the time and the data comes out nearly as
    small (line protocol 3.8x against 4.3x, native JSON 5.0x against 5.4x, AutoPi 12x against 14x). RQ reads it
    as it reads its own (zlib detects the level).
    """

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict:
        data = self.data
        self._data = b""  # what RQ's own to_dict compresses: nothing
        try:
            obj = super().to_dict(include_meta, include_result)
        finally:
            self._data = data
        obj["data"] = zlib.compress(data, JOB_DATA_COMPRESSION)
        return obj


MAINTENANCE_LOCK_S = 10  # how long a worker's registry clean-up holds the queue's lock at most


class IngestIntermediateQueue(IntermediateQueue):
    """RQ's intermediate queue (jobs taken off the queue, not yet registered as started), whose clean-up puts a job
    back after `stuck_after` (the workers' heartbeat TTL) rather than a minute.

    A worker killed between taking jobs and registering them (a multi-job worker gathers for a moment there) leaves
    them here; RQ's clean-up notes each such job once, and returns it to the queue (a retry) when it is still not
    started a minute later: acknowledged readings waited 60-80 s after a crash for that, where an abandoned started
    job is retried once its registration's TTL, the heartbeat TTL, passes. A live worker registers its jobs within
    milliseconds; one stalled for longer than this has its jobs stored twice over, which the writes make once.
    """

    def __init__(self, queue_key: str, connection: Redis, stuck_after: timedelta) -> None:
        super().__init__(queue_key, connection)
        self.stuck_after = stuck_after

    def should_be_cleaned_up(self, job_id: str) -> bool:
        first_seen = self.get_first_seen(job_id)
        return first_seen is not None and now() - first_seen > self.stuck_after


class IngestQueue(Queue):
    """RQ's queue, with jobs compressed faster (IngestJob) and a registry clean-up lock that a killed worker leaves
    behind for seconds.

    RQ takes the lock for 899 s and deletes it when done. Every worker cleans the registries (abandoned jobs
    retried, stuck ones in the intermediate queue too) at each maintenance interval, so one killed while cleaning
    kept every other from retrying abandoned jobs for a quarter of an hour: acknowledged readings waited that long
    to be stored (a drill caught it). Cleaning takes milliseconds; should it outlast the lock, two workers clean at
    once, and a job retried twice is stored once. Jobs stuck in the intermediate queue go back after `stuck_after`
    (IngestIntermediateQueue).
    """

    job_class = IngestJob
    stuck_after = timedelta(seconds=20)  # ingest_queue sets the workers' heartbeat TTL

    def acquire_maintenance_lock(self) -> bool:
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK_S))

    @property
    def intermediate_queue(self) -> IntermediateQueue:
        return IngestIntermediateQueue(self.key, self.connection, self.stuck_after)


def ingest_queue(redis: Redis, settings: Settings) -> Queue:
    queue = IngestQueue(settings.queue_name, connection=redis, serializer=JobSerializer)
    queue.stuck_after = timedelta(seconds=settings.worker_heartbeat_ttl_s)
    return queue


def describe(messages: list[QueueMessage]) -> str:
    """A queued job's description: how many messages, of which formats, for which datasets."""
    formats = sorted({m["format"] for m in messages})
    datasets = sorted({m["dataset_id"] for m in messages})
    shown = ",".join(map(str, datasets[:5])) + (",..." if len(datasets) > 5 else "")
    return f"{INGEST_JOB}: {len(messages)} message(s), {'/'.join(formats)}, dataset {shown}"


def add_messages(queue: Queue, settings: Settings, messages: list[QueueMessage], pipe: Pipeline) -> int:
    """Queue `messages` as RQ jobs of at most `enqueue_max_batch` each on `pipe` (the caller executes it, maybe
    with more commands); returns the number of jobs."""
    retry = Retry(max=settings.job_retry_max)
    step = settings.enqueue_max_batch
    jobs = 0
    for start in range(0, len(messages), step):
        chunk = messages[start : start + step]
        queue.enqueue_call(
            INGEST_JOB,
            args=(chunk,),
            # what `rq info` and `ownstream failed` show; RQ's default is the repr of every message, built only to
            # be cut to 75 characters (a large batch's repr cost more than the rest of its enqueue)
            description=describe(chunk),
            timeout=settings.job_timeout_s,
            result_ttl=0,
            failure_ttl=FAILED_JOB_TTL,
            retry=retry,
            pipeline=pipe,
        )
        jobs += 1
    return jobs


def enqueue_messages(queue: Queue, settings: Settings, messages: list[QueueMessage]) -> int:
    """Write `messages` as RQ jobs in one MULTI/EXEC; returns the number of jobs made.

    Returns only after Redis has answered, which with the shipped configuration (AOF, fsync always) means
    the messages are on disk. Raises redis.exceptions.ConnectionError (or TimeoutError) when Redis is away.
    """
    if not messages:
        return 0
    with queue.connection.pipeline(transaction=True) as pipe:
        jobs = add_messages(queue, settings, messages, pipe)
        pipe.execute()
    return jobs


async def execute_recorded(redis: AsyncRedis, recorder: Pipeline) -> list[Any]:
    """Send the commands collected on an unexecuted sync pipeline through an asyncio one, as one MULTI/EXEC.

    This lets RQ build its jobs with its own code (it writes to a sync pipeline) while an event loop sends them
    without a thread hop, which under load cost more than the enqueue itself.
    """
    async with redis.pipeline(transaction=True) as pipe:
        for args, options in recorder.command_stack:
            pipe.pipeline_execute_command(*args, **options)
        results = await pipe.execute()
    recorder.reset()
    return results
