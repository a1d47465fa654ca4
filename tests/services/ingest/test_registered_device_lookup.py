"""The bridge's lookup of a broker-named device: cached, and dropped within a second of a revocation."""

from __future__ import annotations

import time

from psycopg_pool import ConnectionPool
from redis import Redis

from services.ingest.credentials import UNKNOWN, CredentialResolver
from tests.support.factories import make_dataset, make_device, make_token
from tests.support.http import wait_for

REVOCATION_BOUND_S = 1.0


def test_a_revoked_device_is_refused_within_a_second(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    make_device(settings, dataset.id, "car-1")
    owner = make_token(settings)
    slow = settings.model_copy(update={"key_cache_poll_s": 0.25})  # the shipped poll interval
    with ConnectionPool(settings.database_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        resolver = CredentialResolver(slow, Redis.from_url(settings.redis_url), pool)
        resolver.start()
        try:
            credential = resolver.resolve_device(dataset.id, "car-1")
            assert (credential.dataset_id, credential.kind, credential.device) == (dataset.id, "device", "car-1")
            assert credential.variables == ("temperature",)
            assert resolver.cached((dataset.id, "car-1")) is credential  # no database read per message
            assert resolver.resolve_device(dataset.id, "car-2") is None
            assert resolver.resolve_device(dataset.id + 1, "car-1") is None

            deleted = client.delete("/api/devices/car-1", headers={"Authorization": f"Bearer {owner}"})
            assert deleted.status_code == 204
            revoked_at = time.monotonic()  # committed and announced: from here the bound applies
            wait_for(lambda: resolver.resolve_device(dataset.id, "car-1") is None, timeout=5, what="refusal")
            assert time.monotonic() - revoked_at < REVOCATION_BOUND_S
            assert resolver.cached((dataset.id, "car-1")) is None  # refused from the cache from now on
            assert resolver.cached((dataset.id, "car-9")) is UNKNOWN
        finally:
            resolver.stop()
