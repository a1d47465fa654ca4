"""The short way for plain `/update` pushes (services/ingest/fastpath.py: a GET, or a form POST) answers and queues
exactly what the full handler does, and leaves every other request, and every push it would refuse, to that
handler, with the body it read."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest

from services.ingest.fastpath import short_way
from services.ingest.runtime import IngestRuntime
from tests.support.db import queued_messages
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


def short(rt: IngestRuntime, request: dict, body: bytes = b"") -> tuple[dict | None, bytes]:
    """What the short way makes of `request` (with `body`), and the body the full handler would then read."""
    sent = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    async def run() -> tuple[dict | None, bytes]:
        message, rest = await short_way(rt, request, receive)
        replayed = b""
        if message is None and request["method"] == "POST":
            while (part := await rest())["type"] == "http.request":
                replayed += part["body"]
                if not part.get("more_body"):
                    break
        return message, replayed

    return asyncio.run(run())


def form_post(body: bytes, content_type: str | None = "application/x-www-form-urlencoded", **kwargs) -> dict:
    headers = [("content-length", str(len(body)))] + ([("content-type", content_type)] if content_type else [])
    return scope("", method="POST", headers=headers + kwargs.pop("headers", []), **kwargs)


def test_a_plain_push_with_a_cached_key_is_accepted_as_the_full_handler_accepts_it(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    query = {"key": dataset.write_key, "field1": "21.5", "humidity": "40", "status": "ok"}
    assert short(rt, scope(query))[0] is None, "the key is not cached yet: the full handler reads it"

    full = client.get("/update", params=query)  # the full handler (the key is read and cached)
    assert short(rt, scope(query))[0] is not None, "now the short way takes it"
    quick = client.get("/update", params=query)

    assert (full.status_code, full.text, quick.status_code, quick.text) == (200, "1", 200, "2")
    assert quick.headers["content-type"] == full.headers["content-type"] == "text/plain; charset=utf-8"
    assert quick.headers["content-length"] == full.headers["content-length"]
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
        ({"query": "key=K&field1=1", "headers": [("Content-Encoding", "gzip")]}, "a compressed body"),
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
    assert short(rt, request)[0] is None, why


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
    assert short(rt, scope(query))[0] is not None
    rt.rate_limit.rate = 5.0  # enabled: the limit is taken in the full handler, by one Redis script per request
    assert short(rt, scope(query))[0] is None


def test_a_form_post_is_taken_the_short_way_and_answered_as_the_full_handler_answers(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    body = urlencode({"api_key": dataset.write_key, "field1": "21.5", "humidity": "40"}).encode()
    full = client.post("/update", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    message, _ = short(rt, form_post(body), body)
    assert message is not None and message["payload"] == {"temperature": "21.5", "humidity": "40"}
    answer = client.post("/update", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    untyped = client.post("/update", content=body)  # no Content-Type: read as a form, as push_params does
    assert [(r.status_code, r.text) for r in (full, answer, untyped)] == [(200, "1"), (200, "2"), (200, "3")]
    assert answer.headers["content-type"] == full.headers["content-type"]
    assert len(queued_messages(settings)) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"api_key=K&field1=1&field1=2", None, "a repeated parameter"),
        (b"api_key=K&door=1", None, "an unknown variable"),
        (b"api_key=K&field1=\xff", None, "a body that is not UTF-8"),
        (b'{"api_key": "K", "field1": 1}', "application/json", "a JSON body"),
        (b"api_key=K&field1=1", "text/csv", "an unsupported type"),
    ],
)
def test_a_post_the_short_way_refuses_goes_to_the_full_handler_with_its_body(client, settings, body, content_type, why):
    dataset = make_dataset(settings, variables=FIELDS)
    rt = runtime_of(client)
    assert client.get("/update", params={"key": dataset.write_key, "field1": "1"}).status_code == 200  # cached
    body = body.replace(b"K", dataset.write_key.encode())
    message, replayed = short(rt, form_post(body, content_type or "application/x-www-form-urlencoded"), body)
    assert message is None, why
    assert replayed == body, "the full handler reads the same body"


def test_refused_and_odd_posts_answer_as_the_full_handler_does(client, settings):
    dataset = make_dataset(settings, variables=FIELDS)
    key = dataset.write_key
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/update", data={"api_key": key, "field1": "1"}).status_code == 200
    before = len(queued_messages(settings))
    unknown = client.post("/update", content=f"api_key={key}&door=1", headers=form)
    csv = client.post("/update", content=f"api_key={key}&field1=1", headers={"Content-Type": "text/csv"})
    too_big = client.post("/update", content=f"api_key={key}&field1=" + "1" * settings.max_body_bytes, headers=form)
    assert (unknown.status_code, csv.status_code, too_big.status_code) == (400, 400, 413)
    assert "door" in unknown.text and "Content-Type" in csv.text
    assert len(queued_messages(settings)) == before, "nothing refused was queued"
    json_post = client.post("/update", json={"api_key": key, "field1": 2.5})  # the full handler takes JSON
    assert json_post.status_code == 200 and len(queued_messages(settings)) == before + 1
