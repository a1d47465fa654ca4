"""The worker, the MQTT bridge and each HTTP process leave their start-up objects out of garbage collection
(shared.process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import ROOT

# Runs a command's function with what it starts replaced by a probe that prints the frozen object count.
PROBE = """
import gc, sys
import {module} as target
target.{function} = lambda *args, **kwargs: print(gc.get_freeze_count()) or True
from services.cli.{cli} import {command}

class FakeContext:  # what the mqtt command reads of typer's context
    invoked_subcommand = None

try:
    {command}({arguments})
except BaseException as stop:  # typer.Exit
    sys.exit(getattr(stop, "exit_code", 0))
"""


@pytest.mark.parametrize(
    ("module", "function", "cli", "command", "arguments"),
    [
        ("services.worker.runner", "run_worker", "run", "worker", ""),
        ("services.ingest.mqtt", "run_bridge", "mqtt", "mqtt", "FakeContext(), None"),
    ],
)
def test_a_long_running_process_freezes_what_it_holds_once_started(module, function, cli, command, arguments):
    code = PROBE.format(module=module, function=function, cli=cli, command=command, arguments=arguments)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000, "the modules and classes imported at start-up are frozen"


# `ownstream serve` with uvicorn replaced by what it does with a factory: import it, call it, and then the probe.
SERVE_PROBE = """
import gc, importlib, sys
import uvicorn

def run(app, factory=False, **options):
    module, name = app.split(":")
    assert factory and callable(getattr(importlib.import_module(module), name)())
    print(gc.get_freeze_count())

uvicorn.run = run
from services.cli.run import serve
serve({service!r}, port=None, host=None, processes=1)
"""


@pytest.mark.parametrize("service", ["ingest", "api", "all"])
def test_each_served_app_is_frozen_once_built(service):
    code = SERVE_PROBE.format(service=service)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000, "the app, its routes and what they imported are frozen"
