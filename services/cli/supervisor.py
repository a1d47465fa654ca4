"""A small process supervisor for `ownstream up`: start children, restart crashes, stop all on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass

from services.cli.console import console

RESTART_DELAY_S = 2.0
STOP_GRACE_S = 15.0


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self._stopping = False

    def add(self, name: str, command: list[str]) -> None:
        self.children.append(Child(name, command))

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command)
        child.started_at = time.monotonic()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Run until SIGINT/SIGTERM; a child that dies is restarted after a short pause."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for child in self.children:
            self._start(child)
        try:
            while not self._stopping:
                time.sleep(0.2)
                for child in self.children:
                    code = child.process.poll() if child.process else None
                    if code is not None and not self._stopping:
                        if time.monotonic() - child.started_at < RESTART_DELAY_S:
                            time.sleep(RESTART_DELAY_S)
                        console.print(f"[yellow]{child.name} exited with {code}; restarting[/yellow]")
                        self._start(child)
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        console.print("stopped")
