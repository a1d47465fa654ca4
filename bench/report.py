"""BENCHMARKS.md and bench/results/benchmarks.png from one `make bench` run (bench/results/latest.json)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.stack import RESULTS, ROOT

PAGE = ROOT / "BENCHMARKS.md"
PLOT = RESULTS / "benchmarks.png"
# bench/queries.py's targets (architecture): (goal, met, target ratio for the plot)
QUERY_TARGETS = {
    "q1": ("≤ 0.5x InfluxDB's time", lambda f: f["ratio"] <= 0.5, 0.5),
    "q2": ("≤ 50 ms and ≤ 0.2x InfluxDB's", lambda f: f["ownstream"] <= 50 and f["ratio"] <= 0.2, 0.2),
    "q3": ("≤ 25 ms", lambda f: f["ownstream"] <= 25, None),
}


def n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def rows(result: dict) -> list[dict]:
    """One row per figure: what, Ownstream's figure, the peer or ceiling, the ratio, the target, met."""
    out = []
    for b1 in result.get("B1", []):
        ours, peer = b1["ownstream_update"], b1["influxdb_write"]
        ok = b1["ratio"] >= 0.5 and ours["p99_ms"] <= 50
        out.append(
            {
                "id": f"B1 /update, {b1['settings']['connections']} conn.",
                "ours": f"{n(ours['requests_per_s'])} req/s, p50 {n(ours['p50_ms'], 1)} ms, "
                f"p99 {n(ours['p99_ms'], 1)} ms ({n(ours['acknowledged'])} acknowledged, "
                f"{n(ours['stored'])} stored {ours['drained_after_s']} s after the load)",
                "peer": f"InfluxDB /write {n(peer['requests_per_s'])} req/s, p50 {n(peer['p50_ms'], 1)} ms, "
                f"p99 {n(peer['p99_ms'], 1)} ms",
                "ratio": b1["ratio"],
                "target": 0.5,
                "goal": "≥ 0.5x InfluxDB, p99 ≤ 50 ms",
                "met": ok,
                "runs": b1["runs"],
            }
        )
    for b2 in result.get("B2", []):
        out.append(
            {
                "id": f"B2 {b2['format']} ({n(b2['points_per_request'])}/request)",
                "ours": f"{n(b2['ownstream_values_per_s'])} values/s end to end",
                "peer": f"COPY + ON CONFLICT {n(b2['ceiling_copy_insert_values_per_s'])} values/s; InfluxDB "
                f"{n(b2['influxdb_values_per_s'])} values/s ({b2['ratio_to_influxdb']}x)",
                "ratio": b2["ratio_to_ceiling"],
                "target": 0.8,
                "goal": "≥ 0.8x the COPY ceiling",
                "met": b2["ratio_to_ceiling"] >= 0.8,
                "runs": b2["runs"],
            }
        )
    for b3 in result.get("B3", []):
        rate = b3["ownstream"]["messages_per_s"]
        bridges = b3["settings"]["bridges"]
        out.append(
            {
                "id": f"B3 MQTT QoS 1, {bridges} bridge{'s' if bridges > 1 else ''}",
                "ours": f"{n(rate)} msg/s ({n(b3['ownstream']['messages'])} messages, "
                f"{b3['settings']['clients']} clients, 2 workers)",
                "peer": "target 10,000 msg/s",
                "ratio": round(rate / 10_000, 3),
                "target": 1.0,
                "goal": "≥ 10,000 msg/s",
                "met": rate >= 10_000,
                "runs": b3["runs"],
            }
        )
    if b4 := result.get("B4"):
        out.append(
            {
                "id": "B4 ack → readable",
                "ours": f"p50 {n(b4['p50_ms'], 1)} ms, p99 {n(b4['p99_ms'], 1)} ms at "
                f"{n(b4['rate_sent_values_per_s'])} values/s",
                "peer": "ceiling p99 1,000 ms",
                "ratio": round(b4["p99_ms"] / 1000, 3),
                "target": 1.0,
                "goal": "p99 ≤ 1 s (ratio ≤ 1)",
                "met": b4["p99_ms"] <= 1000,
                "runs": b4["runs"],
            }
        )
    for item in result.get("B5") or []:  # bench/queries.py: {"q1_..._ms": {"ownstream", "influxdb", "ratio"}}
        for name, f in item["record"].items():
            if isinstance(f, dict) and {"ownstream", "influxdb", "ratio"} <= f.keys():
                goal, met, target = QUERY_TARGETS.get(name[:2], ("see bench/queries.py", None, None))
                out.append(
                    {
                        "id": f"B5 {name.removesuffix('_ms').replace('_', ' ')}",
                        "ours": f"{n(f['ownstream'], 1)} ms",
                        "peer": f"InfluxDB {n(f['influxdb'], 1)} ms",
                        "ratio": f["ratio"],
                        "target": target,
                        "goal": goal,
                        "met": met(f) if met else None,
                        "runs": item["record"].get("settings", {}).get("runs", 1),
                    }
                )
    for item in result.get("B6") or []:  # bench/storage.py: {"<mode>": {"bytes_per_value", "values"}}
        for mode, figure in item["record"].items():
            if isinstance(figure, dict) and "bytes_per_value" in figure:
                hot = mode == "hot"  # the layout before packing, for comparison: not what the target is about
                out.append(
                    {
                        "id": f"B6 {mode.replace('_', ' ')}",
                        "ours": f"{figure['bytes_per_value']} bytes/value",
                        "peer": "ceiling 60 bytes/value",
                        "ratio": round(figure["bytes_per_value"] / 60, 3),
                        "target": None if hot else 1.0,
                        "goal": "(before packing)" if hot else "≤ 60 B/value (ratio ≤ 1)",
                        "met": None if hot else figure["bytes_per_value"] <= 60,
                        "runs": 1,
                    }
                )
    if b7 := result.get("B7"):
        one = b7["by_workers"][0]["values_per_s"]
        for run in b7["by_workers"]:
            out.append(
                {
                    "id": f"B7 {run['workers']} worker{'s' if run['workers'] > 1 else ''}",
                    "ours": f"{n(run['values_per_s'])} values/s committed ("
                    + (f"{n(run['flushes'])} intake flushes" if "flushes" in run else f"{n(run['jobs'])} jobs")
                    + f" of {b7['settings']['per_job']})",
                    "peer": f"1 worker: {n(one)} values/s",
                    "ratio": round(run["values_per_s"] / one, 3),
                    "target": None,
                    "goal": "where the bottleneck moves",
                    "met": None,
                    "runs": b7["runs"],
                }
            )
    for item in result.get("B8") or []:  # bench/dashboard.py: seconds from navigation to chart, zoom to redraw
        r = item["record"]
        what = (
            f"{r['days']:g} days of 1 Hz, {r.get('variables', 1)} variable{'s' if r.get('variables', 1) > 1 else ''} "
            f"({n(r['readings'])} readings), load average {r['load_average_while_browsing'][0]:.1f}"
        )
        for key, label, target in (
            ("navigation_to_chart", "navigation → chart", 2.0),
            ("zoom_redraw", "zoom → redraw", 0.5),
        ):
            worst = r.get(f"{key}_worst_s", max(r[f"{key}_s"]))
            out.append(
                {
                    "id": f"B8 dashboard {label}",
                    "ours": f"median {r[f'{key}_median_s']:.2f} s, worst {worst:.2f} s ({what})",
                    "peer": f"target {target:g} s",
                    "ratio": round(worst / target, 3),
                    "target": 1.0,
                    "goal": f"≤ {target:g} s in every run (ratio: worst / target)",
                    "met": worst <= target,
                    "runs": r["runs"],
                }
            )
    return out


def flat(record: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(record, dict):
        return [item for key, value in record.items() for item in flat(value, f"{prefix}{key}.")]
    if isinstance(record, list) and len(record) <= 12:
        return [item for i, value in enumerate(record) for item in flat(value, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), record)] if isinstance(record, int | float | str) else []


def plot(table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in table if row["ratio"] is not None]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.5))
    labels = [row["id"] for row in shown][::-1]
    ratios = [row["ratio"] for row in shown][::-1]
    colors = ["#2a9d8f" if row["met"] else "#999999" if row["met"] is None else "#e76f51" for row in shown][::-1]
    ax.barh(labels, ratios, color=colors)
    for y, row in enumerate(shown[::-1]):
        if row["target"] is not None:
            ax.plot([row["target"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(row["ratio"], y, f" {row['ratio']:.2f}", va="center", fontsize=8)
    ax.set_xlabel("ratio to the peer or ceiling (black tick: target; B4, B5, B6, B8: lower is better)")
    ax.set_title("Ownstream benchmarks, latest run")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def dashboard_section(found: list[dict] | None) -> list[str]:
    """B8: the year's figures, the machine's load while browsing, and what each chart request asked and cost."""
    lines = ["## B8 dashboard over a year of 1 Hz readings", ""]
    if not found:
        return [*lines, "Not run: `bench/dashboard.py` is not in this checkout.", ""]
    for item in found:
        r = item["record"]
        seconds = ", ".join(f"{x:.2f}" for x in r["navigation_to_chart_s"])
        zooms = ", ".join(f"{x:.2f}" for x in r["zoom_redraw_s"])
        asked = r.get("requests", [])
        ttfb = {step: sorted(q[step]["ttfb_ms"] for q in asked) for step in ("navigation", "zoom") if asked}
        lines += [
            f"From `{item['file']}` ({r['when']}), headless chromium at 1440x900, page `?range=all`, then a drag "
            "across 5% of the chart's width:",
            "",
            "| figure | value |",
            "|---|---|",
            f"| readings | {n(r['readings'])} ({r.get('variables', 1)} variable(s) x {r['days']:g} days at 1 Hz) |",
            f"| loaded by | {r.get('loader', 'COPY')}"
            + (" (kept from an earlier run)" if r.get("reused") else f", {r.get('load_s')} s")
            + " |",
            "| load check | "
            + (
                f"readings_in() counts every reading and returns sampled ones exactly; "
                f"{r['check']['buckets_compared']} rollup buckets equal to their raw readings "
                f"({r['check']['check_s']} s) |"
                if r.get("check")
                else "- |"
            ),
            f"| cores, load average (1/5/15 min) at start | {r.get('cores', '-')}, {r['load_average_at_start']} |",
            f"| load average while browsing, at end | {r['load_average_while_browsing']}, {r['load_average_at_end']} |",
            f"| navigation → every chart drawn (s, in run order) | {seconds} |",
            f"| zoom → every chart redrawn (s, in run order) | {zooms} |",
        ]
        for step, values in ttfb.items():
            first = asked[0][step]
            lines.append(
                f"| {step} request | {first['span_days']} days in `{first['bucket']}` buckets; server time to first "
                f"byte {values[0]:.0f}-{values[-1]:.0f} ms, median {values[len(values) // 2]:.0f} ms |"
            )
        lines.append("")
    return lines


# What limits each benchmark whose target is missed, by id prefix (the profiles behind it: bench/README.md).
LIMITS = {
    "B1": "one HTTP process (uvicorn, asyncio) at about 200 us of CPU per push, on 2 cores shared with the workers, "
    "PostgreSQL and the load generator; at 256 connections it is saturated and the slowest connections wait several "
    'times the mean (bench/README.md, "The intake")',
    "B2": "CPU. The load generator, the receiver, the workers and PostgreSQL share two cores; the ceiling's COPY "
    "and insert runs on one, and its single runs moved between 190,000 and 300,000 rows/s within minutes on 12-07's "
    "AMD EPYC machines (median of four runs, two before and two after Ownstream's). A value costs, load generator / "
    "HTTP / workers / PostgreSQL: native JSON 0.1 / 0.8-0.9 / 1.5 / 4.3-4.7 us, line protocol 0.05 / 0.8 / 2.0 / "
    "4.3-4.4 (the workers parse each line again), AutoPi 0.3 / 0.9 / 2.2-2.4 / 3.2-3.4 (a 70-byte JSON object per "
    "value, with its own type and time). Beyond the ceiling's own insert, PostgreSQL keeps the rollups in the write's "
    "transaction; a batch that meets a stored key is written twice, the second time with ON CONFLICT "
    '(bench/README.md, "Batches written as new")',
    "B3": "the bridge is one Python process: paho's decoding of each PUBLISH and its properties and our dispatch use "
    "most of a core; a second bridge competes with the workers and PostgreSQL for the second core. On a machine "
    "2-2.6x slower than 12-06's (InfluxDB's /write at 10,600 requests/s against 21,000) it gave 6,100 msg/s, where "
    "12-06's and 12-07's faster machines gave 16,000-19,000",
    "B5 q3": "the latest reading of each of 999 series, near its target on every machine so far: 22.8 ms on 11-29's, "
    "20.0 on 12-06's and 15.9 on 12-07's faster one, 40.3 on a machine 2-2.6x slower than those "
    '(bench/README.md, "Reading ranges")',
    "B5 q1": "PostgreSQL's text output of each value, the numpy row layout and a 5.2 MB response through FastAPI, "
    'against InfluxDB\'s 1.7 MB of pairs (bench/README.md, "Reading ranges")',
}


def missed_section(table: list[dict]) -> list[str]:
    """By how much each missed target is missed, and what limits it."""
    missed = [row for row in table if row["met"] is False]
    if not missed:
        return []
    lines = ["## Targets missed, and what limits them", ""]
    for row in missed:
        limit = next((text for prefix, text in LIMITS.items() if row["id"].startswith(prefix)), "see bench/README.md")
        lines.append(f"- **{row['id']}**: ratio {row['ratio']}, target {row['goal']}. What limits it: {limit}.")
    return [*lines, ""]


def write_page(result: dict) -> Path:
    table = rows(result)
    plot(table)
    m = result["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Latest run: {result['when']}, `{result['command']}` ({result['duration_s']} s); each figure is the median "
        "of the runs its last column gives. Written by `bench/run.py` from "
        "`bench/results/latest.json`; how each benchmark works and the design behind the figures: "
        "[bench/README.md](bench/README.md).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}; "
        f"{m['postgresql']}; {m['redis']}; {m['mosquitto']}; InfluxDB {m['influxdb']}. Load average "
        f"{m['load_at_start']:.1f} at the start, {m.get('load_at_end', 0):.1f} at the end (2 cores: above 2 the "
        "figures are not the machine's). Everything (load generators, peers, PostgreSQL, Redis, Mosquitto) on this "
        "machine, loopback only.",
        "",
    ]
    if result.get("only"):
        lines += [f"Re-run this time: {', '.join(result['only'])}; the other figures are kept from earlier runs:", ""]
        by_origin: dict[str, list[str]] = {}
        for key, came in sorted(result.get("origin", {}).items()):
            where = came["when"]
            if came.get("cpu"):
                where += f", {came['cpu']}, load average {came['load_at_start']:.1f} at its start"
            by_origin.setdefault(where, []).append(key)
        lines += [f"- {', '.join(keys)}: {where}" for where, keys in by_origin.items()] + [""]
    if result.get("quick"):
        lines += ["**Quick run (small sizes, one run): a smoke test of the benchmarks, not figures to quote.**", ""]
    lines += [
        f"![ratios to peers and ceilings](bench/results/{PLOT.name})",
        "",
        "| benchmark | Ownstream | peer or ceiling (same run) | ratio | target | met | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        met = "-" if row["met"] is None else "yes" if row["met"] else "**no**"
        lines.append(
            f"| {row['id']} | {row['ours']} | {row['peer']} | {row['ratio']} | {row['goal']} | {met} | {row['runs']} |"
        )
    lines += ["", *missed_section(table)]
    lines += [
        "## Reproduce",
        "",
        "| id | command |",
        "|---|---|",
        "| all | `make bench` (`make bench QUICK=1`: small sizes) |",
        "| B1 | `uv run python -m bench.http_update --connections 32` (and `256`) |",
        "| B2 | `uv run python -m bench.batch_write --format native` (`lineproto`, `autopi`) |",
        "| B3 | `uv run python -m bench.mqtt_qos1 --bridges 1` (and `2`) |",
        "| B4 | `uv run python -m bench.ack_latency --rate <half of B2's best values/s>` |",
        "| B5 | `uv run python -m bench.queries` |",
        "| B6 | `uv run python -m bench.storage` |",
        "| B7 | `uv run python -m bench.workers --workers 1 2 4` |",
        "| B8 | `uv run python -m bench.dashboard --days 365 --runs 7` (`--variables 2`: two charts) |",
        "",
    ]
    for key, title in (("B5", "B5 reads"), ("B6", "B6 bytes per value on disk")):
        lines += [f"## {title}", ""]
        found = result.get(key)
        if not found:
            lines += [f"Not run: `bench/{'queries' if key == 'B5' else 'storage'}.py` is not in this checkout.", ""]
            continue
        for item in found:
            lines += [f"From `{item['file']}`:", "", "| figure | value |", "|---|---|"]
            lines += [f"| {name} | {value} |" for name, value in flat(item["record"])[:40]]
            lines.append("")
    lines += dashboard_section(result.get("B8"))
    PAGE.write_text("\n".join(lines))
    return PAGE


if __name__ == "__main__":
    write_page(json.loads((RESULTS / "latest.json").read_text()))
