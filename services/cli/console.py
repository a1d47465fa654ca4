"""Output helpers for CLI commands: JSON for programs, Rich for people."""

from __future__ import annotations

import sys

import orjson
from rich.console import Console

console = Console(stderr=True)  # messages and progress
output = Console()  # results people read or pipe (tables): stdout


def emit_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z).decode() + "\n")
    sys.stdout.flush()
