"""Output helpers for CLI commands: JSON for programs, Rich for people."""

from __future__ import annotations

import sys

import orjson
from rich.console import Console

console = Console(stderr=True)  # messages for people
# results (tables) on stdout, so they can be piped; wide when piped, so that a row stays on one line for grep
out = Console(width=None if sys.stdout.isatty() else 200)


def emit_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z).decode() + "\n")
    sys.stdout.flush()


def report(json: bool, document: object, text: str) -> None:
    """A command's result: `document` as JSON with --json, else `text` for people."""
    if json:
        emit_json(document)
    else:
        out.print(text)
