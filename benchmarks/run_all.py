"""Run every benchmark and print one Markdown report with the targets.

Each benchmark runs as its own process with ``--json``; this script collects the
lines and prints the tables that ``benchmarks/README.md`` records. The peer
comparison runs only when the ``bench`` extra (msgraph-sdk and
office365-rest-python-client) is installed.

    python -m benchmarks.run_all            # 8 to 15 minutes on 2 cores
    python -m benchmarks.run_all --quick    # fewer rounds, for a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import calls_async
from benchmarks._common import REPO_ROOT

# Seconds one benchmark process may take.
BENCHMARK_TIMEOUT = 3600.0

KIB = 1024


def run(module: str, *args: str) -> list[dict[str, Any]]:
    """Run ``python -m benchmarks.MODULE --json ARGS`` and return its JSON lines."""
    command = [sys.executable, "-m", f"benchmarks.{module}", "--json", *args]
    print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=BENCHMARK_TIMEOUT,
        check=True,
    )
    return [json.loads(line) for line in completed.stdout.splitlines() if line]


def machine() -> str:
    """Describe the CPU, the software versions and the calls_async source."""
    lscpu = subprocess.run(
        ["lscpu"], capture_output=True, text=True, check=False
    ).stdout
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in lscpu.splitlines())
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "calls_async"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if commit:
        state = " with uncommitted changes in calls_async/" if dirty else ""
        source = f"calls_async at {commit}{state}"
    else:
        package = Path(calls_async.__file__).parent
        source = f"calls_async from {package}, not a git checkout"
    return (
        f"{fields.get('Model name', platform.processor())},"
        f" {fields.get('CPU(s)', '?')} CPUs; Linux {platform.release()};"
        f" Python {platform.python_version()}; aiohttp {metadata.version('aiohttp')};"
        f" {source};"
        f" {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    )


def connections(result: dict[str, Any]) -> str:
    count = result["concurrency"]
    return "1 connection" if count == 1 else f"{count} connections"


def verdict(met: bool) -> str:
    return "holds" if met else "**misses**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def spread_text(values: dict[str, float], digits: int = 0) -> str:
    return (
        f"{values['median']:.{digits}f} ({values['min']:.{digits}f}"
        f"-{values['max']:.{digits}f})"
    )


def control_table(control: list[dict[str, Any]]) -> str:
    rows = []
    for r in control:
        rows.append(
            (
                f"{r['calls']:,}",
                f"{r['rounds']}",
                spread_text(r["raw_aiohttp_rps"]),
                spread_text(r["calls_async_rps"]),
                f"{r['throughput_ratio_median']:.2f}"
                f" ({r['throughput_ratio_best']:.2f})",
                spread_text(r["raw_aiohttp_cpu_us"]),
                spread_text(r["calls_async_cpu_us"]),
                f"{r['cpu_ratio_median']:.2f}",
            )
        )
    return table(
        (
            "calls",
            "rounds",
            "raw aiohttp req/s",
            "calls_async req/s",
            "ratio of medians (of best rounds)",
            "raw CPU us/req",
            "calls_async CPU us/req",
            "CPU ratio",
        ),
        rows,
    )


def intake_table(intake: list[dict[str, Any]]) -> str:
    rows = []
    for r in intake:
        for variant in ("bare", "bare_read", "webhook_unsigned", "webhook_signed"):
            s = r.get(variant)
            if s is None:
                continue
            ratio = r.get(f"{variant}_ratio_median")
            paired = r.get(f"{variant}_ratio_paired")
            rows.append(
                (
                    f"{r['concurrency']}",
                    variant,
                    spread_text(s["rate"]),
                    f"{ratio:.2f}" if ratio is not None else "1",
                    spread_text(paired, 2) if paired is not None else "",
                    f"{s['cpu_us']['median']:.0f}",
                    spread_text(s["p50_ms"], 2) if "p50_ms" in s else "",
                    spread_text(s["p99_ms"], 2) if "p99_ms" in s else "",
                    f"{s['max_ms']:.1f}" if "max_ms" in s else "",
                )
            )
    return table(
        (
            "connections",
            "receiver",
            "notifications/s",
            "vs bare",
            "vs bare, paired by cycle",
            "CPU us/notification",
            "resume p50 ms",
            "resume p99 ms",
            "max ms",
        ),
        rows,
    )


def scaling_table(control: list[dict[str, Any]], memory: list[dict[str, Any]]) -> str:
    by_calls = {r["calls"]: r for r in control}
    rows = []
    for m in memory:
        c = by_calls.get(m["calls"])
        traced = m["tracemalloc"]
        rss = m["rss"]
        retained = traced["retained_after_hang_up"]
        rows.append(
            (
                f"{m['calls']:,}",
                spread_text(c["calls_async_rps"]) if c else "",
                f"{c['calls_async_cpu_us']['median']:.0f}" if c else "",
                f"{traced['bytes_per_call']:.0f} / {rss['bytes_per_call']:.0f}",
                f"{traced['bytes_per_pending_operation']:.0f}"
                f" / {rss['bytes_per_pending_operation']:.0f}",
                f"{traced['bytes_per_awaited_operation']:.0f}"
                f" / {rss['bytes_per_awaited_operation']:.0f}",
                f"{traced['bytes_left_per_call_after_hang_up']:.0f}"
                f" / {traced['bytes_left_per_call_after_recent_ttl']:.0f}",
                f"{retained['live_calls']} / {retained['pending_operations']}"
                f" / {retained['registry_pollers']}"
                f" / {retained['recently_ended_calls']:,}",
            )
        )
    return table(
        (
            "calls",
            "calls_async req/s",
            "CPU us/req",
            "B/call traced / RSS",
            "B/pending op traced / RSS",
            "B/awaited op traced / RSS",
            "B/call left after hang-up / after recent_ttl (traced)",
            "live calls / pending ops / pollers / recently ended after recent_ttl",
        ),
        rows,
    )


def waves_table(result: dict[str, Any]) -> str:
    retained = result["retained"]
    left = result["left_after_wave_bytes"]
    return table(
        (
            "bursts x calls",
            "KiB left after each burst",
            "converter's shared values after each burst",
            "B kept per call ever seen (slope from burst 2)",
            "live calls / pending ops / pollers / recently ended / deadlines"
            " / de-dup digests, after the last",
        ),
        [
            (
                f"{result['waves']} x {result['wave_calls']:,}",
                ", ".join(f"{b / KIB:.0f}" for b in left),
                ", ".join(str(n) for n in result.get("shared_values_after_wave", ())),
                f"{result['growth_per_call_bytes']:.1f}",
                f"{retained['live_calls']} / {retained['pending_operations']}"
                f" / {retained['registry_pollers']}"
                f" / {retained['recently_ended_calls']}"
                f" / {retained['wait_deadlines'] + retained['grace_deadlines']}"
                f" / {retained['dedup_digests']:,}",
            )
        ],
    )


def import_table(result: dict[str, Any]) -> str:
    return table(
        (
            "python -c pass ms",
            "+ import aiohttp ms",
            "+ import calls_async ms",
            "ratio",
        ),
        [
            (
                f"{result['python_ms']:.1f}",
                f"{result['aiohttp_import_ms']:.1f}",
                f"{result['calls_async_import_ms']:.1f}",
                f"{result['import_ratio']:.2f}"
                f" (whole process {result['process_ratio']:.2f})",
            )
        ],
    )


def peers_table(result: dict[str, Any]) -> str:
    rows = []
    for name, label in (
        ("calls_async", "calls_async"),
        ("msgraph", "msgraph-sdk (async, all calls at once)"),
        ("office365", "office365-rest-python-client (sync, one call at a time)"),
    ):
        ratio = result.get(f"calls_async_over_{name}")
        rows.append(
            (
                label,
                spread_text(result[f"{name}_rps"]),
                f"{result[f'{name}_cpu_us']['median']:.0f}",
                f"{ratio:.1f}x" if ratio is not None else "",
            )
        )
    return table(("client", "req/s", "CPU us/req", "calls_async is"), rows)


def control_targets(control: list[dict[str, Any]]) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = []
    for r in control:
        if r["calls"] in (300, 1000):
            ratio = r["throughput_ratio_median"]
            rows.append(
                (
                    f"control throughput at {r['calls']:,} calls",
                    f"{ratio:.2f}x raw aiohttp"
                    f" (best rounds {r['throughput_ratio_best']:.2f}x)",
                    ">= 0.9x",
                    verdict(ratio >= 0.9),
                )
            )
    for r in control:
        if r["calls"] <= 1000:
            ratio = r["cpu_ratio_median"]
            rows.append(
                (
                    f"client CPU per request at {r['calls']:,} calls",
                    f"{ratio:.2f}x raw aiohttp",
                    "<= 1.2x",
                    verdict(ratio <= 1.2),
                )
            )
    return rows


def intake_targets(intake: list[dict[str, Any]]) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = []
    for r in intake:
        for variant in ("webhook_unsigned", "webhook_signed"):
            ratio = r[f"{variant}_ratio_median"]
            rows.append(
                (
                    f"notification intake, {variant}, {connections(r)}",
                    f"{ratio:.2f}x bare handler",
                    ">= 0.7x",
                    verdict(ratio >= 0.7),
                )
            )
    for r in intake:
        for variant in ("webhook_unsigned", "webhook_signed"):
            p99 = r[variant]["p99_ms"]["median"]
            rows.append(
                (
                    f"resume p99, {variant}, {connections(r)}",
                    f"{p99:.2f} ms",
                    "< 5 ms",
                    verdict(p99 < 5),
                )
            )
    return rows


def memory_targets(memory: list[dict[str, Any]]) -> list[Sequence[str]]:
    largest = max(memory, key=lambda m: m["calls"])
    traced = largest["tracemalloc"]
    rss = largest["rss"]
    return [
        (
            f"memory per tracked call ({largest['calls']:,} calls)",
            f"{traced['bytes_per_call']:.0f} B traced,"
            f" {rss['bytes_per_call']:.0f} B RSS",
            "<= 2 KiB",
            verdict(max(traced["bytes_per_call"], rss["bytes_per_call"]) <= 2 * KIB),
        ),
        (
            f"memory per pending operation ({largest['calls']:,} handles)",
            f"{traced['bytes_per_pending_operation']:.0f} B traced,"
            f" {rss['bytes_per_pending_operation']:.0f} B RSS",
            "<= 1 KiB",
            verdict(
                max(
                    traced["bytes_per_pending_operation"],
                    rss["bytes_per_pending_operation"],
                )
                <= KIB
            ),
        ),
    ]


def targets(results: dict[str, Any]) -> str:
    rows = control_targets(results["control"])
    rows += intake_targets(results["notifications"])
    rows += memory_targets(results["memory"])
    imports = results["import"]
    rows.append(
        (
            "import calls_async",
            f"{imports['import_ratio']:.2f}x import aiohttp",
            "<= 1.3x",
            verdict(imports["import_ratio"] <= 1.3),
        )
    )
    peers = results["peers"]
    if peers is not None:
        ratio = peers["calls_async_over_msgraph"]
        rows.append(
            (
                f"throughput against msgraph-sdk ({peers['calls']} calls)",
                f"{ratio:.1f}x",
                ">= 20x",
                verdict(ratio >= 20),
            )
        )
    return table(("target", "measured", "target", "verdict"), rows)


def collect(quick: bool) -> dict[str, Any]:
    """Run every benchmark and return their results by name."""
    rounds = "2" if quick else "7"
    large_rounds = "1" if quick else "3"
    load_before = os.getloadavg()[0]
    header = machine()

    control = run(
        "control_throughput", "--calls", "100", "300", "1000", "--rounds", rounds
    )
    control += run("control_throughput", "--calls", "10000", "--rounds", large_rounds)
    intake = run(
        "notification_intake",
        "--rounds",
        # A round posts for well under a second, so the machine's swings show.
        # More rounds steady the medians at little cost.
        "2" if quick else "11",
        "--concurrency",
        "64",
        "8",
        "1",
    )
    memory = run("memory", "--calls", "100", "1000", "10000")
    memory_waves = run(
        "memory",
        "--waves",
        # Twenty bursts of 1,000 take the converter's table of shared values,
        # cleared at 1,024 entries, through about one cycle.
        "3" if quick else "20",
        "--wave-calls",
        "300" if quick else "1000",
    )[0]
    imports = run("import_time", "--runs", "5" if quick else "30")[0]
    peers = None
    if importlib.util.find_spec("msgraph") and importlib.util.find_spec("office365"):
        peers = run("peer_clients", "--calls", "100", "--rounds", large_rounds)[0]

    # Other processes on the machine (such as a test run) distort every number,
    # so the report states the load around the run.
    header += (
        f"; 1-minute load average {load_before:.2f} before the run and"
        f" {os.getloadavg()[0]:.2f} after"
    )
    return {
        "machine": header,
        "control": control,
        "notifications": intake,
        "memory": memory,
        "memory_waves": memory_waves,
        "import": imports,
        "peers": peers,
    }


def report(results: dict[str, Any]) -> str:
    """Return the Markdown report of ``collect()``'s results."""
    control = results["control"]
    peers = results["peers"]
    sections = [
        f"Machine: {results['machine']}",
        "### Targets\n\n" + targets(results),
        "### Control throughput and client CPU\n\n"
        "Median of the rounds, with the range in brackets.\n\n"
        + control_table(control),
        "### Operation completion by notification (1,000 pending handles)\n\n"
        + intake_table(results["notifications"]),
        "### How cost grows with the number of calls\n\n"
        + scaling_table(control, results["memory"]),
    ]
    waves = results.get("memory_waves")
    if waves is not None:
        sections.append(
            "### Memory across bursts of calls (traced, above an idle client)\n\n"
            + waves_table(waves)
        )
    sections.append(
        "### Import time (best of the runs, above `python -c pass`)\n\n"
        + import_table(results["import"])
    )
    if peers is not None:
        sections.append(
            f"### Peers on the control workload ({peers['calls']} calls)\n\n"
            + peers_table(peers)
        )
    else:
        sections.append(
            "Peers skipped: install the bench extra (pip install -e '.[bench]')."
        )
    return "\n\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, for a smoke test"
    )
    parser.add_argument("--json", help="also write every result to this JSON file")
    parser.add_argument(
        "--from-json",
        help="print the report of a JSON file written by --json, without running",
    )
    args = parser.parse_args()
    if args.from_json:
        if args.quick:
            parser.error(
                "--quick runs the benchmarks; --from-json only prints a report"
            )
        try:
            with open(args.from_json) as saved:
                results = json.load(saved)
        except (OSError, ValueError) as err:
            parser.error(f"could not read {args.from_json}: {err}")
    else:
        output = None
        if args.json:
            # Opened before the run, so a bad path fails now and not after it.
            try:
                output = open(args.json, "w")  # noqa: SIM115
            except OSError as err:
                parser.error(f"could not write {args.json}: {err}")
        with output or contextlib.nullcontext():
            results = collect(args.quick)
            if output is not None:
                json.dump(results, output, indent=1)
    if args.from_json and args.json:
        with open(args.json, "w") as copy:
            json.dump(results, copy, indent=1)
    print(report(results))


if __name__ == "__main__":
    main()
