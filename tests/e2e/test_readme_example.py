"""Every shell example of the README, run verbatim and in order in one shell against `ownstream up`; then Ctrl-C.

A ```bash block right after `<!-- readme: not run (reason) -->` is skipped (with its reason). Only the addresses
change: the HTTP port and the MQTT broker are this test's own, never the machine's 8000 and 1883.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.http import wait_for, wait_http
from tests.support.mqtt import start_broker
from tests.support.processes import ROOT, ownstream_process
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
README_ADDRESS = "127.0.0.1:8000"
PUSHED_VALUE = 21.5
READABLE_WITHIN_S = 1.0
BLOCK = re.compile(r"(?:<!--\s*readme:\s*not run\s*\(([^)]*)\)\s*-->\s*\n)?```bash\n(.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    line: int  # where the block starts in README.md
    commands: list[str]
    skipped: str | None  # the reason given, for a block marked not run


def readme_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a README, each as its commands (continuation lines joined, comments dropped)."""
    blocks = []
    for match in BLOCK.finditer(text):
        joined = re.sub(r"\\\n\s*", "", match.group(2)).splitlines()
        commands = [line for line in joined if line.strip() and not line.lstrip().startswith("#")]
        blocks.append(Block(text.count("\n", 0, match.start(2)), commands, match.group(1)))
    return blocks


def test_blocks_marked_not_run_are_skipped_and_the_rest_kept_in_order():
    text = (
        "intro\n```bash\necho one \\\n  two  # same line\n# a comment\n```\n"
        "<!-- readme: not run (needs Docker) -->\n```bash\ndocker compose up\n```\n"
        "```toml\nx = 1\n```\n```bash\necho three\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.commands, b.skipped) for b in blocks] == [
        (["echo one two  # same line"], None),
        (["docker compose up"], "needs Docker"),
        (["echo three"], None),
    ]
    assert blocks[0].line == 2


# Every failing command counts, also one before `; echo` or inside a pipeline or a `$(...)`, which a person sees
# as an error message but whose status the line's last command would hide.
FAILED = "__failed__"
STRICT = f"""set -o pipefail -o errtrace
trap 'printf "\\n{FAILED} %s %s\\n" "$?" "$BASH_COMMAND" >&2' ERR
"""


def test_the_compatibility_table_names_the_client_versions_the_tests_install():
    """README's Compatibility table against uv.lock: the versions the compat tests run are the ones it names."""
    locked = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    section = README.read_text().split("## Compatibility", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    named = {re.match(r"\s*`([^`]+)`", client).group(1): version.strip() for client, version in rows}
    clients = {"thingspeak", "influxdb-client", "influxdb", "paho-mqtt"}
    assert clients <= set(named), named
    assert {name: named[name] for name in clients} == {name: locked[name] for name in clients}


class Shell:
    """One bash session fed command by command, as a person pasting commands into a terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.process.stdin.write(STRICT)

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
        failed = [line for line in output if line.startswith(FAILED)]
        assert not failed, f"in {command!r}, a command failed ({failed[0].strip()}): {text}"
        return text

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.mark.parametrize("hidden", ["false; echo after", "false | cat", 'X="$(false)"', 'eval "$(false | cat)"'])
def test_the_shell_catches_a_failure_that_the_line_hides(hidden):
    shell = Shell(dict(os.environ))
    try:
        assert shell.run("echo ok; X=1").strip() == "ok"
        with pytest.raises(AssertionError, match=r"a command failed|exited with"):
            shell.run(hidden)
    finally:
        shell.close()


def localized(command: str, http_port: int, mqtt_port: int) -> str:
    command = command.replace(README_ADDRESS, f"127.0.0.1:{http_port}")
    if command.startswith("mosquitto_pub"):
        command = command.replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {mqtt_port}")
    return command


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


def run_first_reading(shell: Shell, commands: list[str]) -> None:
    """The first block: its push must be readable by its read within a second."""
    *setup, push, read = commands
    assert "/update" in push and "/data" in read
    for command in setup:
        shell.run(command)
    shell.run(push)
    pushed_at = time.monotonic()  # acknowledged: from here to readable (a curl's own start-up is not ours to time)
    while True:
        output = shell.run(read)
        latency = time.monotonic() - pushed_at
        if pushed_value_in(output) or latency > 10:
            break
    assert pushed_value_in(output), f"value not readable {latency:.3f}s after the push: {output}"
    assert latency < READABLE_WITHIN_S, f"pushed value readable only after {latency:.3f}s"


def stored_variables(base: str, dataset_id: str, read_key: str) -> dict[str, list]:
    rows = httpx.get(f"{base}/api/v1/datasets/{dataset_id}/data", params={"key": read_key, "limit": 1000}).json()
    found: dict[str, list] = {}
    for row in rows["rows"]:
        found.setdefault(row["variable"], []).append(row["value"])
    return found


def test_every_readme_shell_block_runs_verbatim_then_ctrl_c(settings, tmp_path, record_property, capsys):
    blocks = readme_blocks(README.read_text())
    ran, skipped = [b for b in blocks if b.skipped is None], [b for b in blocks if b.skipped is not None]
    assert ran and ran[0].commands, "README.md has no shell block to run"
    broker = start_broker(tmp_path / "mosquitto", settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OWNSTREAM_MQTT_URL": broker.url, "TMPDIR": str(tmp_path)}  # files the README writes
    try:
        with ownstream_process("up", "--port", str(port), env=env, stop_signal=signal.SIGINT) as up:
            wait_http(f"{base}/healthz", timeout=180, process=up)  # four processes importing on a shared machine
            shell = Shell(env)
            try:
                run_first_reading(shell, [localized(c, port, broker.port) for c in ran[0].commands])
                for block in ran[1:]:
                    for command in block.commands:
                        shell.run(localized(command, port, broker.port))
                dataset_id, read_key = shell.run('printf "%s %s" "$ID" "$READ_KEY"').split()
            finally:
                shell.close()

            # what the README's examples wrote is stored: JSON, ThingSpeak, line protocol, AutoPi, MQTT
            expected = {"door": "open", "weather.door": "open", "weather.temperature": 21.5, "obd.bat.voltage": 12.6}
            wait_for(
                lambda: (
                    all(
                        value in stored_variables(base, dataset_id, read_key).get(name, [])
                        for name, value in expected.items()
                    )
                    and stored_variables(base, dataset_id, read_key)["temperature"].count(PUSHED_VALUE) >= 4
                ),
                timeout=10,
                what="the README's writes (JSON, ThingSpeak, line protocol, AutoPi, 2 MQTT)",
            )
            assert (tmp_path / "ownstream.dump").stat().st_size > 0  # `ownstream backup` wrote one
            assert (tmp_path / "garden.ndjson").stat().st_size > 0  # `ownstream export` too
            feeds = httpx.get(
                f"{base}/channels/{dataset_id}/feeds.json", params={"api_key": read_key, "status": "true"}
            ).json()["feeds"]
            assert [(f["field1"], f["status"]) for f in feeds if f["status"]] == [("21.5", "ok")]
            assert all(isinstance(f["entry_id"], int) for f in feeds)  # only ThingSpeak entries, never null ids

            members = group_members(up.pid)
            assert len(members) >= 4, f"expected up, HTTP and two workers, found pids {members}"
            os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole foreground group
            assert up.wait(timeout=30) == 0
            deadline = time.monotonic() + 5
            while group_members(up.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert group_members(up.pid) == set(), "processes left behind after Ctrl-C"
    finally:
        broker.stop()
    report = [f"ran     README.md:{b.line}: {b.commands[0][:70]}" for b in ran] + [
        f"skipped README.md:{b.line}: {b.skipped}" for b in skipped
    ]
    record_property("readme_blocks", report)
    with capsys.disabled():
        print("\nREADME shell blocks:\n  " + "\n  ".join(report))
