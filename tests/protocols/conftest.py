"""The `csv_protocol` fixture: registers the tests' CSV protocol on both sides, as a plugin would, and removes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.ingest.formats import FORMATS, TOPICS, register
from services.worker.normalize import NORMALIZERS
from tests.protocols import csv_format, csv_normalizer


@pytest.fixture
def csv_protocol() -> Iterator[None]:
    register(csv_format.FORMAT)
    NORMALIZERS[csv_format.NAME] = csv_normalizer.normalize
    try:
        yield
    finally:
        FORMATS.pop(csv_format.NAME)
        TOPICS.pop("csv")
        NORMALIZERS.pop(csv_format.NAME)


@pytest.fixture
def csv_client(csv_protocol: None, client):
    """The in-process app with the CSV route mounted (on the ingest app, where a new router would be included)."""
    client.app.ingest.include_router(csv_format.router)
    return client
