"""The README's example, run verbatim in a shell against `ownstream up`; then Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.support.http import wait_http
from tests.support.processes import ROOT, ownstream_process
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
README_ADDRESS = "127.0.0.1:8000"
MARKER = "tests/e2e/test_readme_example.py"
PUSHED_VALUE = 21.5
READABLE_WITHIN_S = 1.0


def readme_commands() -> list[str]:
    """The shell commands of the README block that follows the comment naming this test."""
    text = README.read_text()
    block = re.search(r"<!--[^>]*" + re.escape(MARKER) + r"[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert block, f"README.md has no bash block marked for {MARKER}"
    commands = re.sub(r"\\\n\s*", "", block.group(1)).splitlines()
    return [line for line in commands if line.strip() and not line.lstrip().startswith("#")]


class Shell:
    """One bash session fed line by line, as a person pasting commands into a terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=ROOT, env=env, text=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, command: str) -> str:
        self.process.stdin.write(f"{command}\nprintf '\\n__status__ %s\\n' $?\n")
        self.process.stdin.flush()
        output = []
        while True:
            line = self.process.stdout.readline()
            assert line, f"the shell ended while running {command!r}: {''.join(output)}"
            if line.startswith("__status__ "):
                status = int(line.split()[1])
                break
            output.append(line)
        text = "".join(output)
        assert status == 0, f"{command!r} exited with {status}: {text}"
        return text

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def pushed_value_in(output: str) -> bool:
    document = orjson.loads(output)
    return any(row["variable"] == "temperature" and row["value"] == PUSHED_VALUE for row in document["rows"])


def group_members(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.add(int(entry.name))
    return members


def test_readme_example_then_ctrl_c(settings):
    port = free_port()
    commands = [c.replace(README_ADDRESS, f"127.0.0.1:{port}") for c in readme_commands()]
    *setup, push, read = commands
    assert "/update" in push and "/data" in read

    with ownstream_process("up", "--port", str(port), stop_signal=signal.SIGINT) as up:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, process=up)
        shell = Shell({**os.environ})
        try:
            for command in setup:
                shell.run(command)
            pushed_at = time.monotonic()
            shell.run(push)
            deadline = pushed_at + 10
            while True:
                output = shell.run(read)
                latency = time.monotonic() - pushed_at
                if pushed_value_in(output) or time.monotonic() > deadline:
                    break
        finally:
            shell.close()
        assert pushed_value_in(output), f"value not readable {latency:.3f}s after the push: {output}"
        assert latency < READABLE_WITHIN_S, f"pushed value readable only after {latency:.3f}s"

        members = group_members(up.pid)
        assert len(members) >= 4, f"expected up, HTTP and two workers, found pids {members}"
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole foreground group
        assert up.wait(timeout=30) == 0
        deadline = time.monotonic() + 5
        while group_members(up.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group_members(up.pid) == set(), "processes left behind after Ctrl-C"
