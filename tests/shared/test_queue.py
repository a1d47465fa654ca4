"""shared.queue: what operators see of a queued ingest job (`rq info`, `ownstream failed list`)."""

import zlib

from redis import Redis
from rq.job import Job

from shared.config import Settings
from shared.queue import enqueue_messages, ingest_queue, make_message


def test_a_job_is_described_by_its_messages_not_their_payloads(settings: Settings) -> None:
    payload = '{"readings": [{"values": {"secret_marker": 1}}]}' * 50
    messages = [
        make_message("native", 7, payload, source="http"),
        make_message("push", 3, "field1=1", source="http"),
        make_message("native", 7, payload, source="mqtt"),
    ]
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings.model_copy(update={"enqueue_max_batch": 10}))
    assert enqueue_messages(queue, settings.model_copy(update={"enqueue_max_batch": 10}), messages) == 1

    (job_id,) = queue.get_job_ids()
    job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    assert job.description == "services.worker.tasks.ingest_batch: 3 message(s), native/push, dataset 3,7"
    assert list(job.args) == [messages]  # the messages themselves travel whole
    queue.empty()


def test_job_data_is_compressed_at_zlibs_fastest_level_and_read_back_by_rq(settings: Settings) -> None:
    """Receivers compress every job they queue: level 1, not RQ's default 6, and RQ's own Job reads it."""
    payload = "m,device=d v0=1.5,v1=2.5 1700000000000000000\n" * 200
    messages = [make_message("lineproto", 7, payload, source="http", params={"precision": "ns"})]
    queue = ingest_queue(Redis.from_url(settings.redis_url), settings)
    assert enqueue_messages(queue, settings, messages) == 1

    (job_id,) = queue.get_job_ids()
    stored = queue.connection.hget(f"rq:job:{job_id}", "data")
    data = zlib.decompress(stored)
    assert stored == zlib.compress(data, 1) != zlib.compress(data)
    job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)  # RQ's class, not ours
    assert list(job.args) == [messages]
    queue.empty()
