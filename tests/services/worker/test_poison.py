"""One message that cannot be stored never holds back the others in its batch."""

from __future__ import annotations

import orjson
import psycopg

from services.worker import tasks
from shared.queue import make_message
from tests.support.factories import make_dataset


def counts(settings, dataset_id):
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select (select count(*) from readings r join series s on s.id = r.series_id where s.dataset_id = %s),"
            " (select count(*) from rejected_records where dataset_id = %s)",
            (dataset_id, dataset_id),
        ).fetchone()


def test_a_nul_in_a_rejected_payload_is_kept_escaped_and_the_batch_stored(settings):
    mine, theirs = make_dataset(settings, name="mine"), make_dataset(settings, name="theirs")
    good = make_message(
        "native",
        mine.id,
        '{"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 21.5}}]}',
        source="http",
    )
    bad = make_message(
        "reject", theirs.id, "field1=1\x00", source="mqtt", params={"reason": "invalid write key\x00", "format": "push"}
    )
    tasks.ingest_batch([good, bad])
    assert counts(settings, mine.id) == (1, 0)
    assert counts(settings, theirs.id) == (0, 1)
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("select raw from rejected_records").fetchone()[0] == "field1=1\\u0000"


def test_a_batch_that_fails_as_a_whole_is_stored_message_by_message(settings, monkeypatch):
    dataset = make_dataset(settings)
    messages = [
        make_message(
            "native",
            dataset.id,
            orjson.dumps({"readings": [{"time": f"2026-01-01T00:00:0{i}Z", "values": {"temperature": i}}]}).decode(),
            source="http",
        )
        for i in range(3)
    ]
    real_write = tasks.Writer.write

    def write(self, batch):  # the second message's rows cannot be stored, alone or with the others
        if any(row[-5] == 1 or row[-4] == 1 for row in batch.rows):
            raise psycopg.errors.NumericValueOutOfRange("simulated lasting failure")
        return real_write(self, batch)

    monkeypatch.setattr(tasks.Writer, "write", write)
    result = tasks.ingest_batch(messages)
    assert (result["stored"], result["rejected"]) == (2, 1)
    assert counts(settings, dataset.id) == (2, 1)
