"""`make bench`: every benchmark (B1-B8) in one run, then BENCHMARKS.md and its plot (bench/report.py).

Each benchmark runs `--runs` times and its figures are the medians; `--quick` runs small sizes once (a smoke run,
not figures to quote). Installs what it needs when missing: wrk and mosquitto_pub (apt-get). The read (B5) and
storage (B6) benchmarks are bench/queries.py and bench/storage.py: they run when present and their results files
(bench/results/queries*.json, storage*.json) go into the page, and so does the dashboard benchmark (B8,
bench/dashboard.py: a year of 1 Hz readings bulk-loaded, charts timed in headless chromium;
bench/results/dashboard.json).
Run: `make bench` (or `make bench QUICK=1`), i.e. `uv run --group bench python -m bench.run [--quick]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ack_latency, batch_write, http_update, mqtt_qos1, workers
from bench.stack import RESULTS, ROOT, install_tools

# the tools each benchmark drives (bench.stack.install_tools installs them with apt-get when missing)
TOOLS = {"B1": ("wrk", "influxd"), "B2": ("influxd",), "B3": ("mosquitto_pub",), "B5": ("influxd",)}


def median_record(records: list[dict]) -> dict:
    """Field by field: the median of numbers over the runs; anything else as in the first run."""
    out: dict = {}
    for key, first in records[0].items():
        values = [r.get(key) for r in records]
        if (
            isinstance(first, list)
            and first
            and all(isinstance(v, list) and len(v) == len(first) for v in values)
            and all(isinstance(item, dict) for item in first)
        ):
            out[key] = [median_record([r[key][i] for r in records]) for i in range(len(first))]
        elif isinstance(first, bool) or not isinstance(first, int | float) or None in values:
            out[key] = median_record([r[key] for r in records]) if isinstance(first, dict) else first
        else:
            out[key] = statistics.median(values)
    return out


def repeat(runs: int, name: str, call) -> dict:
    records = []
    for n in range(runs):
        print(f"== {name} (run {n + 1} of {runs})", flush=True)
        records.append(call())
    return {**median_record(records), "runs": runs}


def machine() -> dict:
    def version(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        (
            int(line.split()[1]) // 1024 // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": os.getloadavg()[0],
        "postgresql": version(["psql", "--version"]),
        "redis": version(["redis-server", "--version"]),
        "mosquitto": version(["mosquitto", "-h"]),
        "influxdb": version(["influxd", "version"]),
    }


def external(script: str, quick_args: list[str]) -> list[dict]:
    """Run bench/<script>.py when it exists (with `quick_args` in quick mode); return the last record of the newest
    bench/results/<script>*.json."""
    if importlib.util.find_spec(f"bench.{script}") is None:
        return []
    command = [sys.executable, "-m", f"bench.{script}"]
    if subprocess.run(command + quick_args, cwd=ROOT, check=False).returncode == 2 and quick_args:
        subprocess.run(command, cwd=ROOT, check=False)  # 2: argparse refused the quick options
    files = sorted(RESULTS.glob(f"{script}*.json"), key=lambda path: path.stat().st_mtime)
    if not files:
        return []
    data = json.loads(files[-1].read_text())  # the newest: this run's
    return [{"file": str(files[-1].relative_to(ROOT)), "record": data[-1] if isinstance(data, list) else data}]


def origin(previous: dict, key: str) -> dict:
    """When and where the figures of benchmark `key`, kept from the `previous` run's page, were measured."""
    if key in previous.get("origin", {}):
        return previous["origin"][key]
    if previous.get("only") and key not in previous["only"]:  # kept by that run too, from a run not recorded
        return {"when": f"before {previous['when']}"}
    m = previous.get("machine", {})
    return {"when": previous.get("when"), "cpu": m.get("cpu"), "load_at_start": m.get("load_at_start")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke run")
    parser.add_argument("--runs", type=int, default=None, help="runs per benchmark (default 3, quick 1)")
    parser.add_argument("--only", nargs="*", help="benchmark ids to run, e.g. B1 B3")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    q = args.quick
    began = time.monotonic()
    latest = RESULTS / "latest.json"
    # --only: the other benchmarks' figures stay those of the previous run (the page says which were re-run, and
    # when and on what machine the kept ones were measured)
    previous = json.loads(latest.read_text()) if args.only and latest.exists() else {}
    kept = {k: v for k, v in previous.items() if k.startswith("B") and k not in args.only}
    result: dict = {
        **kept,
        "origin": {key: origin(previous, key) for key in kept},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": q,
        "runs": runs,
        "command": (
            f"uv run --group bench python -m bench.run --only {' '.join(args.only)}{' --quick' if q else ''}"
            if args.only
            else "make bench" + (" QUICK=1" if q else "")
        ),
        "machine": machine(),
        "only": args.only,
    }
    wanted = set(args.only or ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"])
    install_tools(*(tool for key in sorted(wanted) for tool in TOOLS.get(key, ())))
    seconds = "3" if q else "10"
    if "B1" in wanted:
        result["B1"] = [
            repeat(
                runs,
                f"B1 /update {c} connections",
                lambda c=c: http_update.main(["--seconds", seconds, "--connections", str(c)]),
            )
            for c in (32, 256)
        ]
    if "B2" in wanted or ("B4" in wanted and "B2" not in result):
        values = (
            {"native": 50_000, "lineproto": 200_000, "autopi": 20_000}
            if q
            # a few seconds each at the rates reached: the pipeline's filling and draining is a small part of it
            # (AutoPi's 300,000 values took 1.3 s on 2026-12-07, and its ratio came out 12 % below 1,000,000's)
            else {"native": 1_000_000, "lineproto": 1_000_000, "autopi": 1_000_000}
        )
        result["B2"] = [
            repeat(runs, f"B2 {fmt}", lambda fmt=fmt: batch_write.main(["--format", fmt, "--values", str(values[fmt])]))
            for fmt in ("native", "lineproto", "autopi")
        ]
    if "B3" in wanted:
        messages = "20000" if q else "100000"
        result["B3"] = [
            repeat(
                runs,
                f"B3 MQTT {b} bridge(s)",
                lambda b=b: mqtt_qos1.main(["--messages", messages, "--bridges", str(b)]),
            )
            for b in (1, 2)
        ]
    if "B4" in wanted:
        top = max(r["ownstream_values_per_s"] for r in result.get("B2", [])) if result.get("B2") else 50_000
        result["B4"] = repeat(
            runs,
            "B4 ack to readable",
            lambda: ack_latency.main(["--rate", str(top / 2), "--probes", "30" if q else "200"]),
        )
    if "B5" in wanted:
        result["B5"] = external(
            "queries", ["--days", "2", "--series", "99", "--export-rows", "100000", "--runs", "3"] if q else []
        )
    if "B6" in wanted:
        result["B6"] = external("storage", ["--values", "200000"] if q else ["--values", "10000000"])
    if "B7" in wanted:
        result["B7"] = repeat(
            runs,
            "B7 workers",
            lambda: workers.main(["--values", "20000" if q else "200000", "--workers", "1", "2", "4"]),
        )
    if "B8" in wanted:
        result["B8"] = external("dashboard", ["--days", "3", "--runs", "3"] if q else ["--days", "365", "--runs", "7"])
    result["machine"]["load_at_end"] = os.getloadavg()[0]
    result["duration_s"] = round(time.monotonic() - began)
    latest.write_text(json.dumps(result, indent=2, default=str) + "\n")

    from bench.report import write_page

    page = write_page(result)
    print(f"wrote {page.relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    main()
