"""Output helpers for CLI commands: JSON for programs, Rich for people."""

from __future__ import annotations

import sys

import orjson
from rich.console import Console

console = Console(stderr=True)  # messages for people
out = Console()  # results (tables) on stdout, so they can be piped


def emit_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z).decode() + "\n")
    sys.stdout.flush()
