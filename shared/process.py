"""What every long-running Ownstream process does once it has started."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Leave what the process holds once started (modules, classes, caches) out of every later garbage collection.

    Python's collector otherwise walks all of it again in each full collection, and a process allocating an object
    or more per reading triggers those often: it was a third of a worker's CPU per reading (bench/README.md,
    "Garbage collection"). Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()
