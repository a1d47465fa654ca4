"""What every long-running Ownstream process does once it has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze_startup_objects() -> None:
    """Leave what the process holds once started (modules, classes, caches) out of every later garbage collection.

    Python's collector otherwise walks all of it again in each full collection, and a process allocating an object
    or more per reading triggers those often: it was a third of a worker's CPU per reading (bench/README.md,
    "Garbage collection"). Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


@contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection inside: for bounded work that allocates an object or more per reading (a worker's
    batch), where the collector would otherwise walk the batch's rows again and again while they are all alive.

    Reference counting still frees what the work drops; only cycles made inside wait for the next collection, which
    runs at the first allocation after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
