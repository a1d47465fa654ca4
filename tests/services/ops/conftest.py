"""Fixtures shared with the ingest tests: a private broker from the shipped configuration."""

from tests.services.ingest.conftest import broker  # noqa: F401
