"""Memory per tracked call and per pending operation handle, above an idle client.

Method. Each measurement runs in a fresh interpreter against an emulator process
whose prompts play for an hour, so playPrompt operations stay pending. The client
is set up as a bot with a webhook: ``create_app`` with token checks off, never
served. So awaiting a handle uses the polling policy of a bot that receives
notifications. Steps, with ``gc.collect()`` before each reading:

1. idle: the client has sent requests over its full connection pool (100 calls
   created, one prompt each, hung up), so the session, the pool and first-use
   caches exist before the baseline;
2. N calls created with ``client.calls.create``, each ringing another user: the
   client tracks N calls;
3. one playPrompt on each call: N pending handles in the operation registry;
4. one task per handle awaiting ``await op``, as a bot does (the handle's future,
   the task, and the timer of the fallback poll the registry sets for an awaited
   handle);
5. every call hung up: their handles fail with CallTerminated and the tasks end;
   the calls stay in the recently-ended map for ``calls.recent_ttl``, which this
   benchmark sets to 1 s (the default is 60 s);
6. the recently-ended time passed: what the client still holds of the calls.

A reading is either the process's resident set size (RSS, ``--mode rss``) or the
bytes traced by ``tracemalloc`` (``--mode tracemalloc``, started before step 1, so
it traces every Python allocation after it). RSS also counts allocator slack and
memory freed but not returned to the system, so the tracemalloc figure is the
precise retained size and RSS the memory the process occupies. Requests run through 100
workers (``gather_bounded``), so no more than 100 are in flight and the readings
show what the client keeps, not the peak of thousands of suspended tasks.

    python -m benchmarks.memory --calls 10000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import subprocess
import sys
import tracemalloc
from typing import Any

from benchmarks._common import (
    CONNECTION_LIMIT,
    REPO_ROOT,
    EmulatorEndpoints,
    emit,
    emulator_client,
    gather_bounded,
    positive_int,
    rss_bytes,
    running_emulator,
    target,
    user_id,
)
from calls_async import (
    Operation,
    PlayPromptOperation,
    ServiceHostedMediaConfig,
)
from calls_async.webhook import create_app

PROMPT = "https://media.example.com/benchmark.wav"
EMULATOR_SETTINGS = {"prompt_duration": 3600.0}
WARM_UP_CALLS = CONNECTION_LIMIT
# Seconds ended calls stay known during the run (the client's default is 60).
RECENT_TTL = 1.0
# Seconds one worker process may take.
WORKER_TIMEOUT = 600.0
MODES = ("rss", "tracemalloc")


async def reading(mode: str) -> int:
    # Let finished tasks' callbacks run first, or they keep the tasks alive.
    await asyncio.sleep(0.1)
    gc.collect()
    if mode == "tracemalloc":
        return tracemalloc.get_traced_memory()[0]
    return rss_bytes()


async def measure_in_process(
    emulator: EmulatorEndpoints, calls: int, mode: str
) -> dict[str, Any]:
    media = ServiceHostedMediaConfig()
    async with emulator_client(emulator) as client:
        create_app(client, app_id=emulator.app_id, verify_tokens=False)
        client.calls.recent_ttl = RECENT_TTL

        async def create_calls(count: int) -> None:
            # Each call rings its own user, so no call shares its target's
            # identity with another (the client keeps equal identities once).
            await gather_bounded(
                client.calls.create(
                    targets=[target(user_id(index))], media_config=media
                )
                for index in range(count)
            )

        async def start_prompts() -> list[Operation[PlayPromptOperation]]:
            calls = client.calls.tracked()
            return await gather_bounded(c.play_prompt([PROMPT]) for c in calls)

        async def hang_up_all() -> None:
            calls = client.calls.tracked()
            await gather_bounded(c.hang_up() for c in calls)

        await create_calls(WARM_UP_CALLS)
        await start_prompts()
        await hang_up_all()

        if mode == "tracemalloc":
            tracemalloc.start()
        idle = await reading(mode)
        idle_rss = rss_bytes()

        await create_calls(calls)
        with_calls = await reading(mode)

        ops = await start_prompts()
        pending = len(client.operations)
        with_ops = await reading(mode)

        waiters = [asyncio.create_task(op.wait()) for op in ops]
        pollers = client.operations.pollers
        with_waiters = await reading(mode)

        await hang_up_all()
        outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        del ops, waiters, outcomes
        after_hang_up = await reading(mode)
        recently_ended = len(client.calls._recent)
        await asyncio.sleep(RECENT_TTL)
        after_recent_ttl = await reading(mode)
        retained = {
            "live_calls": len(client.calls),
            "pending_operations": len(client.operations),
            "registry_pollers": client.operations.pollers,
            "recently_ended_calls_at_hang_up": recently_ended,
            "recently_ended_calls": len(client.calls._recent),
        }
    if mode == "tracemalloc":
        tracemalloc.stop()
    return {
        "calls": calls,
        "mode": mode,
        "idle_rss_bytes": idle_rss,
        "pending_operations": pending,
        "pollers_while_awaited": pollers,
        "bytes_per_call": (with_calls - idle) / calls,
        "bytes_per_pending_operation": (with_ops - with_calls) / calls,
        "bytes_per_awaited_operation": (with_waiters - with_calls) / calls,
        "bytes_left_per_call_after_hang_up": (after_hang_up - idle) / calls,
        "bytes_left_per_call_after_recent_ttl": (after_recent_ttl - idle) / calls,
        "retained_after_hang_up": retained,
    }


def run_worker(emulator: EmulatorEndpoints, calls: int, mode: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its result."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.memory",
            "--worker",
            emulator.to_json(),
            "--calls",
            str(calls),
            "--mode",
            mode,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory worker failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def measure(emulator: EmulatorEndpoints, calls: int) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "memory", "calls": calls}
    for mode in MODES:
        result[mode] = run_worker(emulator, calls, mode)
    return result


def describe(result: dict[str, Any]) -> str:
    lines = [f"{result['calls']} calls"]
    for mode in MODES:
        r = result[mode]
        lines.append(
            f"  {mode:<11} {r['bytes_per_call']:>7.0f} B/call"
            f"  {r['bytes_per_pending_operation']:>7.0f} B/pending op"
            f"  {r['bytes_per_awaited_operation']:>7.0f} B/awaited op"
            f"  {r['bytes_left_per_call_after_hang_up']:>7.0f} B/call left after"
            f" hang-up  {r['bytes_left_per_call_after_recent_ttl']:>7.0f} B/call"
            f" after recent_ttl  idle RSS {r['idle_rss_bytes'] / 2**20:.1f} MiB"
            f"  retained {r['retained_after_hang_up']}"
        )
    return "\n".join(lines)


def _worker_main(emulator_json: str, calls: int, mode: str) -> None:
    emulator = EmulatorEndpoints.from_json(emulator_json)
    print(json.dumps(asyncio.run(measure_in_process(emulator, calls, mode))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        type=positive_int,
        nargs="+",
        default=[10_000],
        help="calls and pending operations; one measurement each (default 10000)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # The app is never served, so its warning that token checks are off is noise.
    logging.getLogger("calls_async.notifications.webhook").setLevel(logging.ERROR)
    if args.worker:
        _worker_main(args.worker, args.calls[0], args.mode)
        return
    with running_emulator(**EMULATOR_SETTINGS) as emulator:
        for calls in args.calls:
            result = measure(emulator, calls)
            emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
