"""Moving readings in and out: export files, and the readers and writer behind `ownstream import`."""
