"""Line protocol speed on one core: the parser alone, the receiver's whole-body validation (formats/lineproto.py accept)
and the worker's normalizer (rows out), on bodies like Telegraf and client libraries send.

Run: uv run python bench/lineproto_parse.py [--out bench/results/lineproto_parse.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from services.ingest.credentials import Credential
from services.ingest.formats import Limits
from services.ingest.formats.lineproto import accept as accept_lineproto
from services.worker.normalize import normalize
from services.worker.normalize.rows import Context
from shared.config import Settings
from shared.lineproto import parse
from shared.values import TimeWindow

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
            out.append(
                f"cpu,cpu=cpu{s % 8},host=server{s:03d},region=eu-west usage_idle={90 + i % 10}.25,"
                f"usage_user=3.5,usage_system=1.25,usage_iowait=0.05 {t}"
            )
        elif kind == "mixed_types":  # integer, boolean and string fields (the quoted path)
            out.append(f'dev,host=h{s} count={i}i,ok=true,state="running {i % 3}",temp={i % 40}.5 {t}')
        elif kind == "escaped":  # escapes in names and tags
            out.append(f"disk\\ io,path=C:\\\\data,label=a\\,b\\ c reads={i}i,busy\\ pct=0.{i % 10} {t}")
    return "\n".join(out)


def best_time(work, seconds: float = 2.0) -> float:
    """The fastest of repeated runs of `work` over about `seconds` (the machine is shared: the best run is the
    least disturbed one)."""
    best, began = float("inf"), time.perf_counter()
    while time.perf_counter() - began < seconds:
        run = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - run)
    return best


def measure(text: str) -> dict[str, int]:
    """Lines/s and fields/s of the parser, the receiver's validation and the worker's normalizer."""
    points = parse(text)
    lines, fields = len(points), sum(len(p.fields) for p in points)
    limits = Limits.of(Settings(max_body_bytes=len(text) * 2))
    credential = Credential(1, "write", None, ())
    body = text.encode()
    message = accept_lineproto(credential, body, limits, source="http")
    context = Context(window=TimeWindow(2000, 86_400))
    assert len(normalize([message], context).rows) == fields
    parser = best_time(lambda: parse(text))
    accept = best_time(lambda: accept_lineproto(credential, body, limits, source="http"))
    worker = best_time(lambda: normalize([message], context))
    return {
        "parse_lines_per_s": round(lines / parser),
        "parse_fields_per_s": round(fields / parser),
        "ingest_validate_lines_per_s": round(lines / accept),
        "worker_normalize_rows_per_s": round(fields / worker),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/lineproto_parse.json"))
    args = parser.parse_args()
    results = {}
    for kind in ("one_float", "telegraf_cpu", "mixed_types", "escaped"):
        results[kind] = measure(body(kind))
        print(kind, "  ".join(f"{name}={value:,}" for name, value in results[kind].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "lineproto_parse",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "lines_per_body": LINES_PER_BODY,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "note": (
                    "one core, best of repeated runs over 2 s each, load generator and other work on the same machine"
                ),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
