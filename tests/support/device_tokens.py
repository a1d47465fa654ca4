"""Device tokens for tests, written straight into the devices table (the registry API is built elsewhere)."""

from __future__ import annotations

import psycopg

from shared.config import Settings
from shared.keys import generate_key, hash_key


def make_device(settings: Settings, dataset_id: int, device_id: str = "car-1") -> str:
    """Register `device_id` in the dataset; returns its token."""
    token = generate_key()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("insert into devices (dataset_id, device_id, token_hash) values (%s, %s, %s)",
                     (dataset_id, device_id, hash_key(token)))
    return token
