"""Profile where calls_async spends CPU beyond aiohttp: control, intake and import.

Method. The profiler runs in the client process only around the timed part of a
round: the control burst, or the generator's posting for notification intake. The
time each function spends in its own code is divided by the requests of the round.
Functions are grouped by where their code lives, so the groups of a calls_async
round and of the raw aiohttp round on the same workload show what calls_async adds.

The default profiler is py-spy, which samples from another process. On a 2-core
machine it competes with the client and the emulator for CPU, and a sample counts a
thread that waits for a core as busy, so the totals are higher than the CPU times
of the other benchmarks. Compare groups and the order of functions, not totals.
``--profiler cprofile`` counts calls but slows every Python call, which makes small
functions look more expensive.

For import, one run of ``python -X importtime -c "import calls_async"`` is summed by
package, and one ``cProfile`` run of the import lists the costliest functions.

    python -m benchmarks.profile_hotspots --calls 1000 --top 20
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import marshal
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import notification_intake
from benchmarks._common import REPO_ROOT, positive_int, running_emulator
from benchmarks.control_throughput import calls_async_round, raw_aiohttp_round
from benchmarks.import_time import RUN_TIMEOUT, import_profile

# The groups of functions, by path markers checked in this order: the first group
# whose marker is in a function's path gets it. cProfile names C functions "~".
_GROUPS = (
    ("calls_async", ("/calls_async/",)),
    ("generated (attrs, cattrs)", ("<attrs generated", "<cattrs generated")),
    ("attrs, cattrs", ("/attr/", "/attrs/", "/cattrs/")),
    (
        "aiohttp, yarl, multidict",
        ("/aiohttp/", "/yarl/", "/multidict/", "/propcache/", "/aiosignal/"),
    ),
    ("asyncio", ("/asyncio/",)),
    ("jwt, cryptography", ("/jwt/", "/cryptography/")),
    ("json", ("/json/",)),
    ("C functions", ("/~",)),
)


def group_of(filename: str) -> str:
    # py-spy gives paths relative to sys.path entries, cProfile absolute ones.
    path = "/" + filename
    for name, markers in _GROUPS:
        if any(marker in path for marker in markers):
            return name
    return "other Python"


StatsKey = tuple[str, int, str]
# (calls, own seconds, cumulative seconds) per function; calls is -1 when the
# profiler samples and does not count calls.
FunctionStats = dict[StatsKey, tuple[int, float, float]]


# Samples a second that py-spy takes of the profiled process.
PY_SPY_RATE = 1000
# Seconds py-spy gets to attach before the profiled code starts.
PY_SPY_ATTACH_SECONDS = 1.0
_PY_SPY_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")


class Recorder:
    """Profiles the code run inside ``record()``.

    ``py-spy`` samples this process from outside, ``PY_SPY_RATE`` times a second,
    without slowing it, and a function's own time includes the C functions it
    calls. ``pyinstrument`` samples from inside every 0.1 ms. ``cprofile`` traces
    every call, which slows the code the most, but it counts calls (a coroutine
    counts once per resumption).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stats: FunctionStats = {}

    @contextmanager
    def record(self) -> Iterator[object]:
        recorders = {
            "py-spy": self._py_spy,
            "pyinstrument": self._pyinstrument,
            "cprofile": self._cprofile,
        }
        with recorders[self.kind]() as handle:
            yield handle

    @contextmanager
    def _cprofile(self) -> Iterator[object]:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield profiler
        finally:
            profiler.disable()
        raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        self.stats = {key: (row[1], row[2], row[3]) for key, row in raw.items()}

    @contextmanager
    def _pyinstrument(self) -> Iterator[object]:
        from pyinstrument import Profiler
        from pyinstrument.renderers import PstatsRenderer

        sampler = Profiler(interval=0.0001, async_mode="disabled")
        sampler.start()
        try:
            yield sampler
        finally:
            sampler.stop()
        text = sampler.output(PstatsRenderer())
        raw = marshal.loads(text.encode("utf-8", "surrogateescape"))
        self.stats = {key: (-1, row[2], row[3]) for key, row in raw.items()}

    @contextmanager
    def _py_spy(self) -> Iterator[object]:
        with tempfile.TemporaryDirectory() as workdir:
            output = Path(workdir) / "samples.txt"
            sampler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(os.getpid()),
                    "--rate",
                    str(PY_SPY_RATE),
                    "--function",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                # py-spy prints nothing once attached when its output is not a
                # terminal, so the wait is a fixed time, checked by its exit.
                time.sleep(PY_SPY_ATTACH_SECONDS)
                if sampler.poll() is not None:
                    _, error = sampler.communicate(timeout=RUN_TIMEOUT)
                    raise RuntimeError(f"py-spy failed to attach: {error.strip()}")
                yield sampler
            finally:
                sampler.send_signal(signal.SIGINT)
                sampler.communicate(timeout=RUN_TIMEOUT)
            self.stats = _parse_py_spy(output.read_text())


def _parse_py_spy(text: str) -> FunctionStats:
    """Turn py-spy's raw output (``frame;frame;... count`` lines) into stats."""
    own: dict[StatsKey, int] = {}
    cumulative: dict[StatsKey, int] = {}
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack.strip():
            continue
        count = int(count_text)
        keys = []
        for frame in stack.split(";"):
            match = _PY_SPY_FRAME.match(frame)
            if match:
                keys.append((match["file"], int(match["line"]), match["name"]))
        if not keys:
            continue
        own[keys[-1]] = own.get(keys[-1], 0) + count
        for key in set(keys):
            cumulative[key] = cumulative.get(key, 0) + count
    return {
        key: (-1, own.get(key, 0) / PY_SPY_RATE, total / PY_SPY_RATE)
        for key, total in cumulative.items()
    }


def _is_idle(key: StatsKey) -> bool:
    filename, _, name = key
    return filename.endswith("selectors.py") and name == "select"


def summarize(stats: FunctionStats, requests: int, top: int) -> dict[str, Any]:
    """Return per-request own time by group and the ``top`` costliest functions."""
    groups: dict[str, float] = {}
    functions = []
    idle = 0.0
    for key, (calls, own, cumulative) in stats.items():
        if _is_idle(key):
            idle += own
            continue
        filename, line, name = key
        group = group_of(filename)
        groups[group] = groups.get(group, 0.0) + own
        functions.append(
            {
                "where": f"{_short(filename)}:{line}({name})",
                "group": group,
                "calls_per_request": calls / requests if calls >= 0 else None,
                "own_us": own / requests * 1e6,
                "cumulative_us": cumulative / requests * 1e6,
            }
        )
    functions.sort(key=lambda f: f["own_us"], reverse=True)
    own_code = ("calls_async", "generated (attrs, cattrs)", "attrs, cattrs")
    return {
        "requests": requests,
        "total_us": sum(groups.values()) / requests * 1e6,
        "idle_us": idle / requests * 1e6,
        "groups_us": {
            name: seconds / requests * 1e6
            for name, seconds in sorted(groups.items(), key=lambda g: -g[1])
        },
        "top": functions[:top],
        "top_calls_async": [f for f in functions if f["group"] in own_code][:top],
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.removeprefix(str(REPO_ROOT) + "/")


def profile_control(kind: str, calls: int, top: int) -> dict[str, Any]:
    raw = Recorder(kind)
    lib = Recorder(kind)
    with running_emulator() as emulator:
        raw_round = asyncio.run(raw_aiohttp_round(emulator, calls, raw.record))
        lib_round, _ = asyncio.run(calls_async_round(emulator, calls, lib.record))
    return {
        "raw_aiohttp": summarize(raw.stats, raw_round.requests, top),
        "calls_async": summarize(lib.stats, lib_round.requests, top),
    }


def profile_intake(
    kind: str, pending: int, concurrency: int, top: int
) -> dict[str, Any]:
    logging.getLogger("calls_async.notifications.webhook").setLevel(logging.ERROR)
    result = {}
    with running_emulator(**notification_intake.EMULATOR_SETTINGS) as emulator:
        bare = Recorder(kind)
        asyncio.run(
            notification_intake.bare_round(emulator, pending, concurrency, bare.record)
        )
        result["bare"] = summarize(bare.stats, pending, top)
        for signed in (False, True):
            recorder = Recorder(kind)
            asyncio.run(
                notification_intake.webhook_round(
                    emulator,
                    pending,
                    concurrency,
                    signed=signed,
                    around_posting=recorder.record,
                )
            )
            name = "webhook_signed" if signed else "webhook_unsigned"
            result[name] = summarize(recorder.stats, pending, top)
    return result


def profile_import(top: int) -> dict[str, Any]:
    modules = import_profile("calls_async", 10_000)
    by_package: dict[str, float] = {}
    for row in modules:
        package = row["module"].split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + row["self_ms"]
    own = [row for row in modules if row["module"].startswith("calls_async")]
    with tempfile.TemporaryDirectory() as workdir:
        output = Path(workdir) / "import.prof"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import cProfile, sys; cProfile.run('import calls_async', sys.argv[1])",
                str(output),
            ],
            cwd=REPO_ROOT,
            check=True,
            timeout=RUN_TIMEOUT,
        )
        stats = pstats.Stats(str(output))
        functions = [
            {
                "where": f"{_short(filename)}:{line}({name})",
                "calls": row[1],
                "own_ms": row[2] * 1000,
                "cumulative_ms": row[3] * 1000,
            }
            for (filename, line, name), row in stats.stats.items()  # type: ignore[attr-defined]
        ]
    functions.sort(key=lambda f: f["cumulative_ms"], reverse=True)
    return {
        "self_ms_by_package": dict(
            sorted(by_package.items(), key=lambda item: -item[1])[:top]
        ),
        "calls_async_modules": own[:top],
        "functions_by_cumulative": [
            f for f in functions if "calls_async" in f["where"]
        ][:top],
        "functions_by_own": sorted(functions, key=lambda f: -f["own_ms"])[:top],
    }


def print_profile(title: str, summary: dict[str, Any]) -> None:
    print(
        f"\n## {title}: {summary['total_us']:.0f} us of own time per request"
        f" ({summary['idle_us']:.0f} us idle in select left out)"
    )
    for group, micros in summary["groups_us"].items():
        print(f"  {micros:8.1f} us  {group}")
    for key, label in (
        ("top", "functions"),
        ("top_calls_async", "calls_async and model functions"),
    ):
        print(f"  {label} by own time (us per request, calls per request):")
        for f in summary[key]:
            calls = f["calls_per_request"]
            counted = f"{calls:6.2f}x" if calls is not None else "      "
            print(
                f"  {f['own_us']:8.1f} us own {f['cumulative_us']:8.1f} us"
                f" cumulative {counted}  {f['where']}"
            )


def print_import(summary: dict[str, Any]) -> None:
    print("\n## import calls_async: self time by package (ms, -X importtime)")
    for package, millis in summary["self_ms_by_package"].items():
        print(f"  {millis:8.2f} ms  {package}")
    print("  calls_async modules by self time:")
    for row in summary["calls_async_modules"]:
        print(
            f"  {row['self_ms']:8.2f} ms self {row['cumulative_ms']:8.2f} ms"
            f" cumulative  {row['module']}"
        )
    for key, label in (
        ("functions_by_cumulative", "calls_async functions by cumulative time"),
        ("functions_by_own", "all functions by own time"),
    ):
        print(f"  {label} (cProfile of the import):")
        for f in summary[key]:
            print(
                f"  {f['own_ms']:8.2f} ms own {f['cumulative_ms']:8.2f} ms"
                f" cumulative {f['calls']:>7}x  {f['where']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=positive_int, default=1000, help="calls of the control burst"
    )
    parser.add_argument(
        "--pending",
        type=positive_int,
        default=1000,
        help="pending operations for intake",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=64,
        help="connections of the generator",
    )
    parser.add_argument("--top", type=int, default=20, help="functions listed")
    parser.add_argument(
        "--profiler",
        choices=("py-spy", "pyinstrument", "cprofile"),
        default="py-spy",
        help="the profiler (default py-spy; see Recorder for how they differ)",
    )
    parser.add_argument(
        "--only",
        choices=("control", "intake", "import"),
        help="profile one workload only",
    )
    args = parser.parse_args()
    if args.only in (None, "control"):
        control = profile_control(args.profiler, args.calls, args.top)
        for name, summary in control.items():
            print_profile(f"control burst, {args.calls} calls, {name}", summary)
    if args.only in (None, "intake"):
        intake = profile_intake(args.profiler, args.pending, args.concurrency, args.top)
        for name, summary in intake.items():
            print_profile(f"notification intake, {name}", summary)
    if args.only in (None, "import"):
        print_import(profile_import(args.top))


if __name__ == "__main__":
    main()
