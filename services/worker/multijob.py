"""A worker that stores many queued ingest jobs in one database transaction, with RQ bookkeeping pipelined.

RQ spends ~54 Redis commands in ~20 round trips on each job, and each job was one fsync'd commit: that, not the
readings, bounded single pushes. After RQ hands it a job, this worker moves up to `batch_jobs - 1` more ready
ingest jobs from the queue to RQ's intermediate queue (as RQ's own dequeue does), registers all of them as
started in one pipeline (each its own execution in the StartedJobRegistry, so `rq info` and the registries show
every job), writes their concatenated messages with one `Writer.write` and one commit, then finishes them all in
one pipeline. A heartbeat thread keeps every held job alive with a short TTL: if the worker is killed, each job's
registration expires and RQ's maintenance retries it (AbandonedJobError), so nothing is lost; the writes are
idempotent, so nothing is stored twice. A batch that fails falls back to RQ's own path, job by job.

Small flushes reach the worker through the intake (shared/intake.py), not as jobs: before each dequeue, and when
the queue runs dry while gathering, the worker makes what waits there into jobs of up to 500 messages. While the
worker waits on the queue, a waker thread waits on the intake and does the same, which ends the worker's wait.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import psycopg
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import WorkerStatus

from services.worker import tasks
from shared.config import Settings, get_settings
from shared.intake import Collector
from shared.queue import INGEST_JOB

log = logging.getLogger(__name__)

TAKE_PER_ROUND = 32  # jobs moved per round trip while gathering a batch
LINGER_BELOW_BYTES = 16_384  # a batch holding less payload than this waits for more when the queue runs dry
HEARTBEAT_EVERY_S = 1.0


def payload_bytes(messages: list[dict]) -> int:
    """About how many bytes of payload `messages` carry."""
    size = 0
    for message in messages:
        payload = message.get("payload")
        size += len(payload) if isinstance(payload, str | bytes) else 32 * len(payload) if payload else 32
    return size


def _load(job: Job) -> tuple[int, int]:
    """How many queue messages `job` carries, and about how many bytes of payload."""
    messages = job.args[0] if job.args else []
    return len(messages), payload_bytes(messages)


class Waker:
    """While its worker waits on the RQ queue (`idle`), waits on the intake and makes what comes into jobs there,
    which ends the worker's wait. Its own Collector (and holding list): the worker's thread collects too."""

    wait_s = 1

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.idle = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intake-waker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.idle.set()
        self._thread.join(timeout=self.wait_s + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.idle.wait(self.wait_s) or self._stop.is_set():
                continue
            try:
                if self.collector.wait(self.wait_s) and self.idle.is_set() and not self._stop.is_set():
                    self.collector.collect()
                else:
                    self.collector.recover_due()
            except RedisError as error:  # the worker's own loop deals with a Redis that went away
                log.warning("intake waker: %s", error)
                self._stop.wait(self.wait_s)


class Held:
    """The jobs a worker holds, each with its execution; the heartbeat thread keeps them alive until dropped."""

    def __init__(self, worker: MultiJobWorker, pairs: list[tuple[Job, Execution]]) -> None:
        self.worker = worker
        self.pairs = list(pairs)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobs-heartbeat", daemon=True)

    def __enter__(self) -> Held:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def drop(self, job: Job) -> None:
        """Stop heart-beating `job` (its bookkeeping is about to end its registration)."""
        with self._lock:
            self.pairs = [(j, e) for j, e in self.pairs if j.id != job.id]

    def drop_all(self) -> None:
        with self._lock:
            self.pairs = []

    def _run(self) -> None:
        interval = max(1.0, self.worker.heartbeat_ttl_s / 4)
        while not self._done.wait(interval):
            try:
                with self._lock:
                    self.beat()
            except RedisError as error:
                log.warning("heartbeat failed: %s", error)

    def beat(self) -> None:
        worker, ttl = self.worker, self.worker.heartbeat_ttl_s
        with worker.connection.pipeline() as pipe:
            worker.heartbeat(worker.job_monitoring_interval + 60, pipeline=pipe)
            marks = []
            for job, execution in self.pairs:
                execution.heartbeat(worker.started_registry(job), ttl, pipeline=pipe)
                marks.append((len(pipe), job))
                job.heartbeat(now(), ttl, pipeline=pipe)
            results = pipe.execute()
            # A job finished by RQ's own path between two beats: the HSET made a key of it again (rq#1450).
            for index, job in marks:
                if results[index] == 1:
                    pipe.delete(job.key)
            pipe.execute()


class MultiJobWorker(SimpleWorker):
    """Runs jobs in this process (no fork per job), several ingest jobs per database transaction.

    RQ's SimpleWorker does not heart-beat while a job runs and so registers each job for its whole timeout plus a
    minute: a batch whose worker was killed would wait that long to be retried. This worker registers jobs for a
    short TTL and keeps them alive from a heartbeat thread, so an abandoned batch is retried within seconds.
    """

    heartbeat_ttl_s = 20
    batch_jobs = 20  # queued jobs per database transaction at most
    batch_messages = 10_000  # stop gathering once the held jobs carry this many queue messages
    # ... or this much payload: one worker must not take the whole backlog of large jobs into one transaction while
    # the others find the queue empty (a few 50,000-value line protocol jobs are seconds of work each)
    batch_bytes = 1024 * 1024
    # When the queue runs dry while gathering, wait this long once for more jobs to arrive. Under a steady trickle
    # of small jobs a worker otherwise wakes for each one, and each batch has a fixed cost (~10 Redis round trips,
    # one commit) that competes for the CPU with the receivers; a busy queue never waits. Nor does a worker that was
    # idle for longer than the linger: pushes that far apart gain nothing from waiting, a lone push is stored at once.
    batch_linger_s = 0.1
    _batch_done_at = float("-inf")  # monotonic time the last batch was written
    settings: Settings | None = None  # the intake's (namespace, job size); the environment's when not set

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started_registries: dict[str, StartedJobRegistry] = {}
        self._collector: Collector | None = None
        self._waker: Waker | None = None

    # the intake -----------------------------------------------------------------------------------------------
    def collector(self, role: str = "") -> Collector:
        """A Collector for the first queue, with a holding list named after this worker (and `role`)."""
        name = f"{self.name}:{role}" if role else self.name
        return Collector(self.connection, self.queues[0], self.settings or get_settings(), name)

    def collect(self) -> int:
        """Make what waits in the intake into jobs on the queue; returns how many messages."""
        if self._collector is None:
            self._collector = self.collector()
        return self._collector.collect()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        burst = kwargs.get("burst", args[0] if args else False)
        if not burst:
            self._waker = Waker(self.collector("waker"))
            self._waker.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            if self._waker is not None:
                self._waker.stop()
                self._waker = None

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        self.collect()
        # The worker is still BUSY from its last batch (RQ's loop marks it IDLE in the dequeue, not after each job), and
        # RQ only defers a stop request that comes while BUSY, checking for it before the dequeue: one that came since,
        # while collecting, would go unseen through every wait on the queue. From IDLE on, a request stops at once.
        # (Set here for this process only: RQ's dequeue writes it to Redis next, a round trip saved per batch.)
        self._state = WorkerStatus.IDLE
        if self._stop_requested:
            return None
        waker = self._waker
        if timeout is None or waker is None:  # burst: what was collected, or nothing
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        waker.idle.set()
        try:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            waker.idle.clear()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.heartbeat_ttl_s

    _long_beat_at = float("-inf")  # monotonic time of the last heartbeat with RQ's default (long) TTL

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat in one round trip instead of three, skipped when the last one (with RQ's default
        TTL, worker_ttl + 60 s) is under HEARTBEAT_EVERY_S old: RQ's loop beats several times per job."""
        if pipeline is not None:
            self._long_beat_at = float("-inf")  # it may have set a shorter TTL: the next default beat must run
            return super().heartbeat(timeout, pipeline)
        if timeout is None and time.monotonic() - self._long_beat_at < HEARTBEAT_EVERY_S:
            return None
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            pipe.execute()
        self._long_beat_at = time.monotonic() if timeout is None else float("-inf")
        return None

    def execute_job(self, job: Job, queue: Queue) -> None:
        # BUSY from the moment the job is off the queue, for RQ's stop request: one that comes while more jobs are
        # gathered waits for the batch to be stored, instead of leaving the jobs taken so far for RQ's clean-up of
        # the intermediate queue. (Set here for this process only; _start's pipeline writes it to Redis.)
        self._state = WorkerStatus.BUSY
        jobs = [job]
        together = job.func_name == INGEST_JOB  # a lone ingest job too: RQ's own path costs ~20 round trips
        if together and self.batch_jobs > 1:
            jobs += self._take_more(queue, job)
        pairs = self._start(jobs, queue, mark_started=together)
        with Held(self, pairs) as held:
            if together:
                self._perform_together(pairs, queue, held)
            else:
                self.perform_job(job, queue, pairs[0][1])
        self._batch_done_at = time.monotonic()
        # RQ's loop sets the worker idle again as it goes back to the queue

    # executions: RQ 3.0's Execution.create and .delete with one StartedJobRegistry per queue (a job's
    # `started_job_registry` builds a new one, and resolves its serializer, on every use: a sixth of a small job's cost)
    def started_registry(self, job: Job) -> StartedJobRegistry:
        registry = self._started_registries.get(job.origin)
        if registry is None:
            registry = self._started_registries[job.origin] = job.started_job_registry
        return registry

    def _create_execution(self, job: Job, ttl: int, pipe: Pipeline) -> Execution:
        execution = Execution(id=uuid4().hex, job_id=job.id, connection=job.connection, worker_name=self.name)
        execution._job = job
        execution.save(ttl=ttl, pipeline=pipe)
        ExecutionRegistry(job_id=job.id, connection=pipe).add(execution=execution, ttl=ttl, pipeline=pipe)
        self.started_registry(job).add_execution(execution, pipeline=pipe, ttl=ttl, xx=False)
        pipe.sadd(execution.worker_executions_key, execution.composite_key)  # the worker's execution index
        pipe.expire(execution.worker_executions_key, ttl + 60)
        return execution

    def _delete_execution(self, job: Job, execution: Execution, pipe: Pipeline) -> None:
        pipe.delete(execution.key)
        self.started_registry(job).remove_execution(execution=execution, pipeline=pipe)
        ExecutionRegistry(job_id=execution.job_id, connection=self.connection).remove(
            execution=execution, pipeline=pipe
        )
        pipe.srem(execution.worker_executions_key, execution.composite_key)

    # gathering -----------------------------------------------------------------------------------------------
    def _take_more(self, queue: Queue, first: Job) -> list[Job]:
        """Move more ready ingest jobs to the intermediate queue (as RQ's LMOVE dequeue does) and fetch them.

        When the queue runs dry, lingers once if what is held is small (LINGER_BELOW_BYTES of payload): a job's
        fixed cost (~1.3 ms of worker time) is most of a small batch's, but a few percent of a large one's, which
        would only become readable later. A worker whose last batch was written longer than the linger ago does
        not wait: jobs that far apart would not have joined the batch, and a lone push is readable at once."""
        taken: list[Job] = []
        messages, size = _load(first)
        idle = time.monotonic() - self._batch_done_at > self.batch_linger_s
        settled = self.batch_linger_s <= 0 or size >= LINGER_BELOW_BYTES or idle  # no (more) waiting wanted
        collected = False
        while len(taken) + 1 < self.batch_jobs and messages < self.batch_messages and size < self.batch_bytes:
            # as many jobs as the room left holds, judged by the jobs held so far: one round trip for many small
            # jobs, and large ones one at a time, so that the batch stops near its size
            room = -(-(self.batch_bytes - size) * (len(taken) + 1) // max(size, 1))
            want = min(TAKE_PER_ROUND, self.batch_jobs - 1 - len(taken), room)
            with self.connection.pipeline(transaction=False) as pipe:
                for _ in range(want):
                    pipe.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
                ids = [i.decode() if isinstance(i, bytes) else i for i in pipe.execute() if i is not None]
            found_jobs = self.job_class.fetch_many(ids, self.connection, self.serializer) if ids else []
            for job_id, found in zip(ids, found_jobs, strict=True):
                if found is None or found.func_name != INGEST_JOB:
                    # Deleted meanwhile (RQ's dequeue skips those too), or another kind of job: that one goes
                    # back to the head of the queue for a plain dequeue.
                    with self.connection.pipeline() as back:
                        back.lrem(queue.intermediate_queue_key, 1, job_id)
                        if found is not None:
                            back.lpush(queue.key, job_id)
                        back.execute()
                    continue
                taken.append(found)
                more, grown = _load(found)
                messages, size = messages + more, size + grown
                settled = settled or size >= LINGER_BELOW_BYTES
            if len(ids) < want:
                # Once per wait: what reached the intake meanwhile becomes jobs, taken too. (Collecting again each
                # time the queue runs dry would make a job of each millisecond's flushes under a steady load.)
                if not collected and self.collect():
                    collected = True
                    continue
                if settled:
                    break
                settled = True
                self._linger()
                collected = False
        return taken

    def _linger(self) -> None:
        """Give jobs that are on their way a moment to arrive (once per batch, when the queue ran dry)."""
        time.sleep(self.batch_linger_s)

    def _start(self, jobs: list[Job], queue: Queue, mark_started: bool) -> list[tuple[Job, Execution]]:
        """Register every job as started (its own execution, short TTL) in one pipeline, as RQ does for one.

        With `mark_started`, the same pipeline also does what RQ's prepare_job_execution does for each job (RQ
        runs that in the work horse, a separate round trip; a lone job still goes through RQ's own path).
        """
        ttl = self.heartbeat_ttl_s
        pairs = []
        with self.connection.pipeline() as pipe:
            self.heartbeat(ttl, pipeline=pipe)
            for job in jobs:
                execution = self._create_execution(job, ttl, pipe)
                self.executions[execution.id] = execution
                if mark_started:  # sets the job's last_heartbeat too
                    job.prepare_for_execution(self.name, pipeline=pipe)
                    pipe.persist(job.key)
                    pipe.lrem(queue.intermediate_queue_key, 1, job.id)
                else:
                    job.heartbeat(now(), ttl, pipeline=pipe)
                pairs.append((job, execution))
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            pipe.execute()
        if mark_started:
            self.procline(f"Processing {len(jobs)} jobs from {queue.name}")
        return pairs

    # running -------------------------------------------------------------------------------------------------
    def _perform_together(self, pairs: list[tuple[Job, Execution]], queue: Queue, held: Held) -> None:
        jobs = [job for job, _ in pairs]
        timeout = max(job.timeout or queue.DEFAULT_TIMEOUT for job in jobs)
        try:
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=jobs[0].id):
                tasks.ingest_batch([m for job in jobs for m in job.args[0]], jobs=len(jobs))
        except psycopg.OperationalError:
            # The database stayed away past the write patience: every job goes back to the queue (RQ's retry).
            exc_info = sys.exc_info()
            held.drop_all()
            for job, execution in pairs:
                self._finalize_failure(job, queue, execution, exc_info)
            return
        except Exception:
            # Nothing was committed: RQ's own path runs each job alone, so one bad job fails alone.
            log.exception("a batch of %d jobs failed; running them one by one", len(jobs))
            for job, execution in pairs:
                self.perform_job(job, queue, execution)
                held.drop(job)
            return
        held.drop_all()
        self._finish(pairs)

    def _finish(self, pairs: Iterable[tuple[Job, Execution]]) -> None:
        """RQ's success bookkeeping for jobs with result_ttl 0 and no dependents, in one pipeline.

        RQ's own path reads each job's status and executions back before deleting it (round trips per job);
        here the worker knows both: the job is STARTED with this one execution.
        """
        ended = now()
        worked = timedelta(0)
        with self.connection.pipeline() as pipe:
            count = 0
            for job, execution in pairs:
                job.ended_at = ended
                job._status = JobStatus.FINISHED
                self._delete_execution(job, execution, pipe)
                self.executions.pop(execution.id, None)
                pipe.delete(
                    job.key,
                    job.dependents_key,
                    job.dependencies_key,
                    Result.get_key(job.id),
                    ExecutionRegistry(job.id, connection=self.connection).key,
                )
                worked += ended - (job.started_at or ended)
                count += 1
            pipe.hincrby(self.key, "successful_job_count", count)
            self.increment_total_working_time(worked, pipe)
            pipe.execute()
