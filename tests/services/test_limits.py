"""Per-caller read cost limit (API) and per-key ingest rate limit (receivers): 429 with Retry-After."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.ingest.rate_limit import KeyRateLimit
from shared.errors import RateLimited
from tests.support.db import reading_count
from tests.support.factories import make_dataset
from tests.support.worker import drain


@pytest.fixture
def limited(settings):
    from services.combined import create_app

    tight = settings.model_copy(
        update={"read_cost_ms_per_minute": 1, "ingest_rate_per_key": 1.0, "ingest_burst_per_key": 2.0}
    )
    with TestClient(create_app(tight)) as test_client:
        yield test_client


def test_a_caller_over_its_read_budget_gets_429_and_others_still_read(limited, settings):
    dataset = make_dataset(settings, public=True)
    other = make_dataset(settings, name="Other")
    path = f"/api/v1/datasets/{dataset.id}/data"
    assert limited.get(path, params={"key": dataset.read_key}).status_code == 200  # within budget, then charged
    refused = limited.get(path, params={"key": dataset.read_key})
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"] == "rate_limited" and "server time" in refused.json()["detail"]
    assert limited.get(f"/channels/{dataset.id}/feeds.json", params={"key": dataset.read_key}).status_code == 429
    # another caller (another key) has a budget of its own
    assert limited.get(f"/api/v1/datasets/{other.id}/data", params={"key": other.read_key}).status_code == 200


def test_the_default_read_budget_lets_ordinary_reads_through(client, settings):
    dataset = make_dataset(settings)
    for _ in range(30):
        assert client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).status_code == 200


def test_ingest_rate_limit_per_key_refuses_with_429_and_stores_nothing_over_it(limited, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    other = make_dataset(settings, name="Other", variables=("temperature",))
    answers = [limited.get("/update", params={"key": dataset.write_key, "temperature": str(i)}) for i in range(4)]
    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:], statuses  # a burst of 2, then 1 per second
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["error"] == "rate_limited"
    assert limited.get("/update", params={"key": other.write_key, "temperature": "1"}).status_code == 200
    assert limited.get("/update", params={"key": "0" * 40, "temperature": "1"}).status_code == 401  # not counted
    drain(settings)
    assert reading_count(settings, dataset.id) == statuses.count(200)


def test_ingest_rate_limit_is_off_by_default(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    for i in range(20):
        assert client.get("/update", params={"key": dataset.write_key, "temperature": str(i)}).status_code == 200


def test_token_bucket_refills_at_the_rate():
    limit = KeyRateLimit(rate=2.0, burst=2.0)
    limit.take("k", now=0.0)
    limit.take("k", now=0.0)
    with pytest.raises(RateLimited) as refused:
        limit.take("k", now=0.0)
    assert refused.value.headers == {"Retry-After": "1"}
    limit.take("k", now=0.5)  # half a second buys one request at 2/s
    limit.take("other", now=0.5)
    assert not KeyRateLimit(rate=0).enabled
