"""Ownstream processes started by tests: the real `ownstream` command, run with the test's environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNSTREAM = [sys.executable, "-m", "services.cli"]


def run_cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run `ownstream ARGS...` to completion; output captured as text."""
    return subprocess.run(
        [*OWNSTREAM, *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@contextmanager
def ownstream_process(
    *args: str, env: dict[str, str] | None = None, stop_signal: int = signal.SIGTERM, **popen
) -> Iterator[subprocess.Popen]:
    """`ownstream ARGS...` running in its own process group; stopped with `stop_signal` (then killed) on exit."""
    process = subprocess.Popen(
        [*OWNSTREAM, *args], cwd=ROOT, env={**os.environ, **(env or {})}, start_new_session=True, **popen
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def served(service: str, ready_path: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`ownstream serve SERVICE` on a free port with the test's environment; yields its URL once it answers."""
    from tests.support.http import wait_http
    from tests.support.services import free_port

    port = free_port()
    with ownstream_process("serve", service, "--port", str(port), env=env) as process:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}{ready_path}", process=process)
        yield url
