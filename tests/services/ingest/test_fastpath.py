"""The short way for plain `GET /update` pushes (services/ingest/fastpath.py) answers and queues exactly what the
full handler does, and leaves every other request, and every push it would refuse, to that handler."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from services.ingest.fastpath import plain_push
from services.ingest.runtime import IngestRuntime
from shared.redis_clients import redis_client
from tests.support.factories import make_dataset

FIELDS = ("temperature", "humidity")


def runtime_of(client) -> IngestRuntime:
    return client.app.ingest.state.ingest


def scope(query: dict | str, *, method: str = "GET", path: str = "/update", headers=()) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": (query if isinstance(query, str) else urlencode(query)).encode(),
        "headers": [(n.lower().encode(), v.encode()) for n, v in headers],
    }


def queued_messages(settings) -> list[dict]:
    queue = Queue(settings.queue_name, connection=redis_client(settings), serializer=JSONSerializer)
    return [m for job in queue.get_jobs() for m in job.args[0]]


def test_a_plain_push_with_a_cached_key_is_accepted_as_the_full_handler_accepts_it(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    query = {"key": dataset.write_key, "field1": "21.5", "humidity": "40", "status": "ok"}
    assert plain_push(rt, scope(query)) is None, "the key is not cached yet: the full handler reads it"

    full = client.get("/update", params=query)  # the full handler (the key is read and cached)
    assert plain_push(rt, scope(query)) is not None, "now the short way takes it"
    short = client.get("/update", params=query)

    assert (full.status_code, full.text, short.status_code, short.text) == (200, "1", 200, "2")
    assert short.headers["content-type"] == full.headers["content-type"] == "text/plain; charset=utf-8"
    assert short.headers["content-length"] == full.headers["content-length"]
    first, second = queued_messages(settings)
    for message in (first, second):
        message.pop("received_at")
    assert first["params"].pop("entry_id") == 1 and second["params"].pop("entry_id") == 2
    assert first == second
    assert (first["payload"]["temperature"], first["payload"]["humidity"]) == ("21.5", "40")


@pytest.mark.parametrize(
    ("shape", "why"),
    [
        ({"query": "key=K&field1=1&field1=2"}, "a repeated parameter is refused"),
        ({"query": "key=K&field1=x1&door=3"}, "an unknown variable is refused"),
        ({"query": "key=K"}, "no values"),
        ({"query": "key=K&field1=1&created_at=yesterday"}, "a bad time is refused"),
        ({"query": "key=R&field1=1"}, "a read key cannot write"),
        ({"query": "key=nope&field1=1"}, "an unknown key"),
        ({"query": "field1=1", "headers": [("X-THINGSPEAKAPIKEY", "K")]}, "the key in a header"),
        ({"query": "key=K&field1=1", "headers": [("Idempotency-Key", "a")]}, "an Idempotency-Key"),
        ({"query": "key=K&field1=1", "method": "POST"}, "a POST (it may carry a body)"),
        ({"query": "key=K&field1=1", "path": "/update.json"}, "the JSON answer"),
    ],
)
def test_everything_else_is_left_to_the_full_handler(client, settings, shape, why):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    keys = {"K": dataset.write_key, "R": dataset.read_key}
    assert client.get("/update", params={"key": keys["K"], "field1": "1"}).status_code == 200  # K cached
    client.get("/update", params={"key": keys["R"], "field1": "1"})  # R cached (refused)
    query = shape["query"].replace("key=K", f"key={keys['K']}").replace("key=R", f"key={keys['R']}")
    headers = [(n, keys.get(v, v)) for n, v in shape.get("headers", [])]
    request = scope(query, method=shape.get("method", "GET"), path=shape.get("path", "/update"), headers=headers)
    assert plain_push(rt, request) is None, why


def test_refusals_of_cached_keys_answer_as_the_full_handler_does(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    key = dataset.write_key
    assert client.get("/update", params={"key": key, "field1": "1"}).status_code == 200
    before = len(queued_messages(settings))
    unknown = client.get("/update", params={"key": key, "door": "1"})
    repeated = client.get(f"/update?key={key}&field1=1&field1=2")
    read_key = client.get("/update", params={"key": dataset.read_key, "field1": "1"})
    read_key_again = client.get("/update", params={"key": dataset.read_key, "field1": "1"})
    assert (unknown.status_code, repeated.status_code) == (400, 400)
    assert "door" in unknown.text and "more than once" in repeated.text
    assert read_key.status_code == read_key_again.status_code == 401
    assert read_key.json() == read_key_again.json()
    assert len(queued_messages(settings)) == before, "nothing refused was queued"


def test_with_a_rate_limit_every_push_takes_the_full_handler(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    query = {"key": dataset.write_key, "field1": "1"}
    assert client.get("/update", params=query).status_code == 200
    assert plain_push(rt, scope(query)) is not None
    rt.rate_limit.rate = 5.0  # enabled: the limit is taken in the full handler, by one Redis script per request
    assert plain_push(rt, scope(query)) is None
