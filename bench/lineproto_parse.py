"""Line protocol parsing speed (shared.lineproto.parse), single core, on bodies like Telegraf and clients send.

Run: uv run python bench/lineproto_parse.py [--out bench/results/lineproto_parse.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from shared.lineproto import parse

LINES_PER_BODY = 5_000
SERIES = 1_000
START_NS = 1_767_225_600_000_000_000


def body(kind: str) -> str:
    """A body of LINES_PER_BODY lines of one shape, over SERIES series."""
    out = []
    for i in range(LINES_PER_BODY):
        s, t = i % SERIES, START_NS + i * 1_000_000_000
        if kind == "one_float":  # the benchmark shape: one float field per line
            out.append(f"r,s={s} v={i * 0.5} {t}")
        elif kind == "telegraf_cpu":  # several floats, three tags
            out.append(f"cpu,cpu=cpu{s % 8},host=server{s:03d},region=eu-west usage_idle={90 + i % 10}.25,"
                       f"usage_user=3.5,usage_system=1.25,usage_iowait=0.05 {t}")
        elif kind == "mixed_types":  # integer, boolean and string fields (the quoted path)
            out.append(f'dev,host=h{s} count={i}i,ok=true,state="running {i % 3}",temp={i % 40}.5 {t}')
        elif kind == "escaped":  # escapes in names and tags
            out.append(f"disk\\ io,path=C:\\\\data,label=a\\,b\\ c reads={i}i,busy\\ pct=0.{i % 10} {t}")
    return "\n".join(out)


def measure(text: str, seconds: float = 2.0) -> tuple[float, float]:
    """(lines/s, fields/s) of parse(text): the best of repeated runs over about `seconds` (the machine is shared)."""
    points = parse(text)
    fields = sum(len(p.fields) for p in points)
    best, began = float("inf"), time.perf_counter()
    while time.perf_counter() - began < seconds:
        run = time.perf_counter()
        parse(text)
        best = min(best, time.perf_counter() - run)
    return len(points) / best, fields / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/lineproto_parse.json"))
    args = parser.parse_args()
    results = {}
    for kind in ("one_float", "telegraf_cpu", "mixed_types", "escaped"):
        lines_s, fields_s = measure(body(kind))
        results[kind] = {"lines_per_s": round(lines_s), "fields_per_s": round(fields_s)}
        print(f"{kind:14s} {lines_s:>12,.0f} lines/s {fields_s:>12,.0f} fields/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "lineproto_parse",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "lines_per_body": LINES_PER_BODY,
        "results": results,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
