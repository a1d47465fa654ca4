"""What long-running processes do with Python's garbage collector."""

from __future__ import annotations

import gc

import pytest

from services.worker import tasks
from shared.process import collection_paused


def test_a_workers_batch_is_normalized_and_written_with_the_collector_paused_and_it_runs_again_after(monkeypatch):
    """A batch's rows are all alive until it is written: collecting while they are made walks them again and again
    (10-20 % of a worker's CPU per value). Paused for the batch, on again after it, even when the batch fails."""
    seen = []

    def store(messages, settings):
        seen.append(gc.isenabled())
        raise RuntimeError("the database refused the batch")

    monkeypatch.setattr(tasks, "store", store)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        tasks.ingest_batch([])
    assert seen == [False]
    assert gc.isenabled()


def test_a_pause_inside_a_pause_leaves_the_collector_as_the_outer_one_wants():
    with collection_paused():
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
