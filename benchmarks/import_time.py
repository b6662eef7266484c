"""Import time of calls_async against aiohttp, in fresh interpreters.

Method. Each sample is the wall time of a fresh ``python -c "import X"`` process,
started from the repository root with bytecode caches already written (one untimed
run of each first, with ``PYTHONDONTWRITEBYTECODE`` taken out of the environment, so
that calls_async is measured as an installed wheel runs: pip compiles bytecode on
install, and so did the install of aiohttp). The three commands (``pass``,
``import aiohttp``, ``import calls_async``) take turns for ``--runs`` runs and the
minimum of each is kept, since noise only adds time. The import cost is the time
above ``python -c pass``, so the interpreter's own start-up does not dilute the
ratio. ``calls_async`` imports aiohttp itself, so its import cost contains
aiohttp's.

``--top`` adds the modules with the largest self time from one run of
``python -X importtime -c "import calls_async"``.

    python -m benchmarks.import_time --runs 15
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks._common import REPO_ROOT, emit, positive_int

COMMANDS = {
    "python": "pass",
    "aiohttp": "import aiohttp",
    "calls_async": "import calls_async",
}
# Seconds one interpreter may take to start and import.
RUN_TIMEOUT = 60.0

# Without this variable the warm-up runs write bytecode caches for calls_async.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

_IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def time_once(code: str) -> float:
    """Return the wall time of one ``python -c code`` process.

    ``subprocess.run(timeout=...)`` would wait by polling, with sleeps that grow to
    50 ms, so every sample would land on a coarse grid. A blocking wait with a kill
    timer as the safety net times the process exactly.
    """
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=_ENV)
    killer = threading.Timer(RUN_TIMEOUT, process.kill)
    killer.start()
    try:
        returncode = process.wait()
    finally:
        killer.cancel()
    elapsed = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"python -c {code!r} exited with {returncode}")
    return elapsed


def import_profile(module: str, count: int) -> list[dict[str, Any]]:
    """Return the ``count`` modules with the largest self time importing ``module``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=_ENV,
        check=True,
        timeout=RUN_TIMEOUT,
    )
    rows = []
    for line in completed.stderr.splitlines():
        match = _IMPORTTIME_LINE.match(line)
        if match:
            self_us, cumulative_us, _, name = match.groups()
            rows.append(
                {
                    "module": name,
                    "self_ms": int(self_us) / 1000,
                    "cumulative_ms": int(cumulative_us) / 1000,
                }
            )
    rows.sort(key=lambda row: row["self_ms"], reverse=True)
    return rows[:count]


def _check_bytecode_cached() -> None:
    spec = importlib.util.find_spec("calls_async._client")
    if spec is None or spec.origin is None:
        raise RuntimeError("calls_async is not importable from here")
    cached = importlib.util.cache_from_source(spec.origin)
    if not os.path.exists(cached):
        raise RuntimeError(
            f"no bytecode cache at {cached} after the warm-up run; make the package "
            "directory writable or run `python -m compileall calls_async` first"
        )


def measure(runs: int, top: int) -> dict[str, Any]:
    for code in COMMANDS.values():
        time_once(code)
    _check_bytecode_cached()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, code in COMMANDS.items():
            samples[name].append(time_once(code))
    best = {name: min(values) * 1000 for name, values in samples.items()}
    aiohttp_ms = best["aiohttp"] - best["python"]
    calls_async_ms = best["calls_async"] - best["python"]
    result: dict[str, Any] = {
        "benchmark": "import",
        "runs": runs,
        "python_ms": best["python"],
        "aiohttp_process_ms": best["aiohttp"],
        "calls_async_process_ms": best["calls_async"],
        "aiohttp_import_ms": aiohttp_ms,
        "calls_async_import_ms": calls_async_ms,
        "import_ratio": calls_async_ms / aiohttp_ms,
        "process_ratio": best["calls_async"] / best["aiohttp"],
    }
    if top:
        result["top_self_time"] = import_profile("calls_async", top)
    return result


def describe(result: dict[str, Any]) -> str:
    lines = [
        f"python -c pass {result['python_ms']:.1f} ms;"
        f" import aiohttp +{result['aiohttp_import_ms']:.1f} ms;"
        f" import calls_async +{result['calls_async_import_ms']:.1f} ms"
        f" (ratio {result['import_ratio']:.2f}; whole process"
        f" {result['process_ratio']:.2f})"
    ]
    for row in result.get("top_self_time", []):
        lines.append(
            f"  {row['self_ms']:7.2f} ms self {row['cumulative_ms']:7.2f} ms"
            f" cumulative  {row['module']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=positive_int, default=15, help="runs per command (default 15)"
    )
    parser.add_argument(
        "--top",
        type=int,
        default=0,
        help="also list this many modules by self import time (default 0)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = measure(args.runs, args.top)
    emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
