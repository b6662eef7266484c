"""Memory per tracked call and per pending operation handle, above an idle client.

Method. Each measurement runs in a fresh interpreter against an emulator process
whose prompts play for an hour, so playPrompt operations stay pending. The client
is set up as a bot with a webhook: ``create_app`` with token checks off, never
served. So awaiting a handle uses the polling policy of a bot that receives
notifications. Steps, with ``gc.collect()`` before each reading:

1. idle: the client has sent requests over its full connection pool (100 calls
   created, one prompt each, hung up), so the session, the pool and first-use
   caches exist before the baseline, and those calls' ``recent_ttl`` has passed;
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

With ``--waves W`` the worker instead runs W bursts one after another, each of
``--wave-calls`` new calls: every call gets a pending playPrompt awaited by a task,
a completion notification applied through the client's dispatcher completes it, and
the call is hung up. ``calls.recent_ttl`` and the dispatcher's ``dedup_ttl`` are 1 s,
and the traced memory above idle is read after each wave once both have passed. A
structure that kept something of every call ever seen would grow from wave to
wave, while tables that keep their peak size (Python dicts do not shrink when
entries are removed) stay level after the first wave. One table moves the readings
by up to about 160 KiB: the converter's shared values, which it clears when they
reach 1,024, so the result also lists how many it kept after each wave. Twenty
waves of 1,000 calls take that table through about one cycle.

Each N is measured twice, each time in a worker process of its own: once reading
the process's resident set size (RSS) and once the bytes traced by ``tracemalloc``
(started before step 1, so it traces every Python allocation after it). RSS also
counts allocator slack and memory freed but not returned to the system, so the
tracemalloc figure is the precise retained size and RSS the memory the process
occupies. Requests run through 100 workers (``gather_bounded``), so no more than
100 are in flight and the readings show what the client keeps, not the peak of
thousands of suspended tasks.

    python -m benchmarks.memory --calls 10000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
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
from benchmarks.notification_intake import completion_body
from calls_async import (
    CallsClient,
    Operation,
    PlayPromptOperation,
    ServiceHostedMediaConfig,
)
from calls_async._json import loads
from calls_async._notifications import parse_notifications
from calls_async.models import _converter
from calls_async.webhook import create_app

PROMPT = "https://media.example.com/benchmark.wav"
EMULATOR_SETTINGS = {"prompt_duration": 3600.0}
WARM_UP_CALLS = CONNECTION_LIMIT
# The warm-up calls ring users of their own, far above those of any measurement.
WARM_UP_FIRST_USER = 10**11
# Seconds ended calls stay known during the run (the client's default is 60).
RECENT_TTL = 1.0
# Seconds a delivered notification's digest is kept in the waves run (the default
# is 600). Expired digests go in the sweep at the next delivery.
WAVES_DEDUP_TTL = 1.0
# Seconds one worker process may take.
WORKER_TIMEOUT = 600.0
KIB = 1024
MODES = ("rss", "tracemalloc")
WAVES_MODE = "waves"


async def reading(mode: str) -> int:
    # Let finished tasks' callbacks run first, or they keep the tasks alive.
    await asyncio.sleep(0.1)
    gc.collect()
    if mode == "tracemalloc":
        return tracemalloc.get_traced_memory()[0]
    return rss_bytes()


async def create_ringing_others(
    client: CallsClient, count: int, first_user: int = 0
) -> None:
    """Create ``count`` calls, each ringing its own user from ``first_user`` on.

    No call shares its target's identity with another, because the client keeps
    equal identities once and that would hide their cost.
    """
    media = ServiceHostedMediaConfig()
    await gather_bounded(
        client.calls.create(targets=[target(user_id(index))], media_config=media)
        for index in range(first_user, first_user + count)
    )


async def start_prompts_on_all(
    client: CallsClient,
) -> list[Operation[PlayPromptOperation]]:
    """Start one playPrompt on every tracked call. Each stays pending, because the
    emulator of this benchmark plays a prompt for an hour."""
    calls = client.calls.tracked()
    return await gather_bounded(c.play_prompt([PROMPT]) for c in calls)


async def hang_up_every_call(client: CallsClient) -> None:
    await gather_bounded(c.hang_up() for c in client.calls.tracked())


async def warm_up(client: CallsClient) -> None:
    """Use the full connection pool once, so the baseline includes it."""
    await create_ringing_others(client, WARM_UP_CALLS, first_user=WARM_UP_FIRST_USER)
    await start_prompts_on_all(client)
    await hang_up_every_call(client)


@contextlib.asynccontextmanager
async def bot_client(emulator: EmulatorEndpoints) -> AsyncIterator[CallsClient]:
    """Yield a client set up as a bot with a webhook that is never served, after
    it has used its full connection pool once."""
    async with emulator_client(emulator) as client:
        create_app(client, app_id=emulator.app_id, verify_tokens=False)
        client.calls.recent_ttl = RECENT_TTL
        await warm_up(client)
        # So the baseline contains none of the warm-up's calls as lately ended.
        await asyncio.sleep(RECENT_TTL)
        yield client


async def measure_in_process(
    emulator: EmulatorEndpoints, calls: int, mode: str
) -> dict[str, Any]:
    async with bot_client(emulator) as client:
        if mode == "tracemalloc":
            tracemalloc.start()
        idle = await reading(mode)
        idle_rss = rss_bytes()

        await create_ringing_others(client, calls)
        with_calls = await reading(mode)

        ops = await start_prompts_on_all(client)
        pending = len(client.operations)
        with_ops = await reading(mode)

        waiters = [asyncio.create_task(op.wait()) for op in ops]
        pollers = client.operations.pollers
        with_waiters = await reading(mode)

        await hang_up_every_call(client)
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


def complete_by_notification(
    client: CallsClient, ops: list[Operation[PlayPromptOperation]]
) -> None:
    """Complete every handle with the notification Graph sends when a prompt ends.

    The bodies go through the webhook's parsing and the client's dispatcher, as
    they do when the webhook receives them, without an HTTP server.
    """
    dispatcher = client.notifications
    for op in ops:
        body = json.dumps(completion_body(op.call.id, str(op.id), op.client_context))
        dispatcher.apply(parse_notifications(loads(body.encode())), None)


async def measure_waves_in_process(
    emulator: EmulatorEndpoints, waves: int, wave_calls: int
) -> dict[str, Any]:
    async with bot_client(emulator) as client:
        client.notifications.dedup_ttl = WAVES_DEDUP_TTL
        tracemalloc.start()
        idle = await reading("tracemalloc")
        left_after_wave = []
        shared_after_wave = []
        for wave in range(waves):
            await create_ringing_others(client, wave_calls, wave * wave_calls)
            ops = await start_prompts_on_all(client)
            waiters = [asyncio.create_task(op.wait()) for op in ops]
            await asyncio.sleep(0)
            complete_by_notification(client, ops)
            await asyncio.gather(*waiters)
            await hang_up_every_call(client)
            del ops, waiters
            await asyncio.sleep(max(RECENT_TTL, WAVES_DEDUP_TTL))
            left_after_wave.append(await reading("tracemalloc") - idle)
            shared_after_wave.append(len(_converter._shared))
        registry = client.operations
        retained = {
            "live_calls": len(client.calls),
            "pending_operations": len(registry),
            "registry_pollers": registry.pollers,
            "recently_ended_calls": len(client.calls._recent),
            "wait_deadlines": len(registry._wait_deadlines),
            "grace_deadlines": len(registry._grace_deadlines),
            # The last wave's digests stay until the sweep at the next delivery.
            "dedup_digests": len(client.notifications._seen),
            "completed_by_notification": registry.completed_by["notification"],
        }
    tracemalloc.stop()
    return {
        "benchmark": "memory_waves",
        "waves": waves,
        "wave_calls": wave_calls,
        "left_after_wave_bytes": left_after_wave,
        # Values the converter keeps once for all models: a table cleared when it
        # reaches its limit, so the readings move with how full it is.
        "shared_values_after_wave": shared_after_wave,
        "growth_per_call_bytes": growth_per_call(left_after_wave, wave_calls),
        "retained": retained,
    }


def growth_per_call(left_after_wave: list[int], wave_calls: int) -> float:
    """Return the bytes kept per call ever seen: the least-squares slope of the
    readings from the second wave on, over the calls of a wave.

    The first wave is left out because the tables grow to their peak size in it.
    """
    later = left_after_wave[1:]
    slope = statistics.linear_regression(range(len(later)), later).slope
    return slope / wave_calls


def run_worker(
    emulator: EmulatorEndpoints, calls: int, mode: str, waves: int = 0
) -> dict[str, Any]:
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
            "--waves",
            str(waves),
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


def describe_waves(result: dict[str, Any]) -> str:
    left = ", ".join(f"{b / KIB:.0f}" for b in result["left_after_wave_bytes"])
    return (
        f"{result['waves']} bursts of {result['wave_calls']} calls: KiB left after"
        f" each burst {left}; growth {result['growth_per_call_bytes']:.1f} B per call"
        f" from the second burst on; shared values kept after each burst"
        f" {result['shared_values_after_wave']}; retained {result['retained']}"
    )


def _worker_main(emulator_json: str, calls: int, mode: str, waves: int) -> None:
    emulator = EmulatorEndpoints.from_json(emulator_json)
    if mode == WAVES_MODE:
        result = asyncio.run(measure_waves_in_process(emulator, waves, calls))
    else:
        result = asyncio.run(measure_in_process(emulator, calls, mode))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        type=positive_int,
        nargs="+",
        help="calls and pending operations; one measurement each (default 10000)",
    )
    parser.add_argument(
        "--waves",
        type=int,
        default=0,
        help=(
            "instead of the one burst, run this many bursts of --wave-calls calls "
            "in a row and read the memory left after each (at least 3)"
        ),
    )
    parser.add_argument(
        "--wave-calls",
        type=positive_int,
        help="calls in each burst of --waves (default 1000)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=(*MODES, WAVES_MODE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.waves != 0 and args.waves < 3:
        parser.error(f"--waves is {args.waves}; give 3 or more, or 0 for one burst")
    if args.waves and args.calls is not None and not args.worker:
        parser.error("--calls sets the one burst; with --waves, give --wave-calls")
    if not args.waves and args.wave_calls is not None:
        parser.error("--wave-calls needs --waves, the number of bursts to run")
    if args.mode is not None and not args.worker:
        parser.error("--mode is set by the benchmark for its own worker processes")
    if args.calls is None:
        args.calls = [10_000]
    if args.wave_calls is None:
        args.wave_calls = 1000
    # The app is never served, so its warning that token checks are off is noise.
    logging.getLogger("calls_async.notifications.webhook").setLevel(logging.ERROR)
    if args.worker:
        _worker_main(args.worker, args.calls[0], args.mode, args.waves)
        return
    with running_emulator(**EMULATOR_SETTINGS) as emulator:
        if args.waves:
            result = run_worker(emulator, args.wave_calls, WAVES_MODE, args.waves)
            emit(result, args.json, describe_waves(result))
            return
        for calls in args.calls:
            result = measure(emulator, calls)
            emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
