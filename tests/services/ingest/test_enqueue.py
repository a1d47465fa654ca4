"""Which flushes go to the intake (small, no receipts) and which are queued as RQ jobs directly."""

from __future__ import annotations

import orjson

from services.ingest.batcher import Submission
from services.ingest.enqueue import BIG_FLUSH_BYTES, Enqueuer
from shared.queue import make_message


def message(payload):
    # a fixed receive time: the JSON of time.time() varies in length, and these tests count bytes
    return make_message("native", 1, payload, source="http", received_at=1_796_000_000.5)


def test_a_small_flush_goes_to_the_intake_as_its_json():
    messages = [message('{"readings": []}'), message({"field1": "2.5"})]
    assert Enqueuer.for_intake(messages, []) == orjson.dumps(messages)


def test_a_flush_is_big_by_its_json_size_whether_one_payload_or_many_make_it():
    just_under = BIG_FLUSH_BYTES - len(orjson.dumps([message("")]))
    assert Enqueuer.for_intake([message("x" * just_under)], []) is None
    assert Enqueuer.for_intake([message("x" * (just_under - 1))], []) is not None
    assert Enqueuer.for_intake([message("x" * BIG_FLUSH_BYTES)], []) is None
    assert Enqueuer.for_intake([message("x" * (BIG_FLUSH_BYTES // 4)) for _ in range(4)], []) is None
    # escaping and multi-byte characters make the JSON longer than the text: counted as the JSON is
    assert Enqueuer.for_intake([message('"' * (BIG_FLUSH_BYTES // 2))], []) is None
    assert Enqueuer.for_intake([message("é" * (BIG_FLUSH_BYTES // 2))], []) is None
    # payloads that are not text (pushed pairs) count too
    assert Enqueuer.for_intake([message({"field1": "x" * BIG_FLUSH_BYTES})], []) is None


def test_a_flush_with_an_idempotency_receipt_is_queued_directly():
    small = [message("{}")]
    assert Enqueuer.for_intake(small, [Submission(small, claim=object())]) is None
