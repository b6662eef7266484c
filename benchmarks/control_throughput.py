"""Control throughput and client CPU: calls_async against raw aiohttp on one emulator.

The emulator runs in its own process on loopback. For each client, N calls are
created first (not timed). Then every call sends cancelMediaProcessing,
updateRecordingStatus, unmute and DELETE one after another, all N calls at once, and
the timed part is that burst of 4 x N requests. The two clients take turns for
``--rounds`` rounds, and which one goes first alternates, so a slow moment of the
machine hits both. CPU is the client process's user+system time over the burst,
divided by its requests. After calls_async's burst the script records how many
calls and pending operations the client still holds.

    python -m benchmarks.control_throughput --calls 100 300 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import aiohttp

from benchmarks._common import (
    CONNECTION_LIMIT,
    EmulatorEndpoints,
    Stopwatch,
    Timed,
    create_call_body,
    emit,
    emulator_client,
    fetch_token,
    gather_bounded,
    positive_int,
    running_emulator,
    spread,
    target,
)
from calls_async import (
    Call,
    CallsClient,
    RecordingStatus,
    ServiceHostedMediaConfig,
)

# Seconds between creating the calls and the burst, so the emulator has moved every
# call to established before the timed part.
SETTLE_SECONDS = 0.3


async def raw_aiohttp_round(
    emulator: EmulatorEndpoints,
    calls: int,
    around_burst: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> Timed:
    """Run the workload with aiohttp and hand-written JSON.

    ``around_burst`` is entered for the timed part only, as a profiler is.
    """
    token = await fetch_token(emulator)
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
    async with aiohttp.ClientSession(connector=connector) as session:
        base = emulator.base_url + "/communications/calls"

        def headers() -> dict[str, str]:
            return {
                "Authorization": "Bearer " + token,
                "client-request-id": str(uuid.uuid4()),
                "Content-Type": "application/json",
            }

        create_body = create_call_body()

        async def create() -> str:
            async with session.post(base, data=create_body, headers=headers()) as r:
                assert r.status == 201, r.status
                return str((await r.json())["id"])

        ids = await gather_bounded(create() for _ in range(calls))
        await asyncio.sleep(SETTLE_SECONDS)

        async def post(call_id: str, action: str, body: dict[str, str]) -> None:
            url = f"{base}/{call_id}/{action}"
            data = json.dumps(body).encode()
            async with session.post(url, data=data, headers=headers()) as r:
                assert r.status == 200, (action, r.status)
                await r.json()

        async def control(call_id: str) -> None:
            await post(
                call_id, "cancelMediaProcessing", {"clientContext": str(uuid.uuid4())}
            )
            await post(
                call_id,
                "updateRecordingStatus",
                {"status": "recording", "clientContext": str(uuid.uuid4())},
            )
            await post(call_id, "unmute", {"clientContext": str(uuid.uuid4())})
            async with session.delete(f"{base}/{call_id}", headers=headers()) as r:
                assert r.status == 204, r.status
                await r.read()

        with around_burst():
            watch = Stopwatch()
            await asyncio.gather(*(control(i) for i in ids))
            return watch.stop(4 * calls)


def retained_after_hang_up(client: CallsClient) -> dict[str, int]:
    """Return what the client still tracks once every call has been hung up.

    The registry's dictionaries are private; reading their sizes here checks that
    ended calls release their operations, which ``len(client.operations)`` alone
    would not show.
    """
    registry = client.operations
    return {
        "live_calls": len(client.calls),
        "pending_operations": len(registry),
        "registry_by_id": len(registry._by_id),
        "registry_by_call": len(registry._by_call),
        "registry_pollers": registry.pollers,
        # Ended calls stay here for calls.recent_ttl seconds (60 by default), so
        # that late notifications find them.
        "recently_ended_calls": len(client.calls._recent),
    }


async def calls_async_round(
    emulator: EmulatorEndpoints,
    calls: int,
    around_burst: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> tuple[Timed, dict[str, int]]:
    """Run the workload through the public calls_async API.

    ``around_burst`` is entered for the timed part only, as a profiler is.
    """
    async with emulator_client(emulator) as client:
        media = ServiceHostedMediaConfig()
        handles = await gather_bounded(
            client.calls.create(targets=[target()], media_config=media)
            for _ in range(calls)
        )
        await asyncio.sleep(SETTLE_SECONDS)

        async def control(call: Call) -> None:
            await call.cancel_media_processing()
            await call.update_recording_status(RecordingStatus.RECORDING)
            await call.unmute()
            await call.hang_up()

        with around_burst():
            watch = Stopwatch()
            await asyncio.gather(*(control(c) for c in handles))
            timed = watch.stop(4 * calls)
        return timed, retained_after_hang_up(client)


def measure(emulator: EmulatorEndpoints, calls: int, rounds: int) -> dict[str, Any]:
    """Run both clients ``rounds`` times at ``calls`` calls and summarize."""
    raw: list[Timed] = []
    lib: list[Timed] = []
    retained: dict[str, int] = {}
    for index in range(rounds):
        if index % 2 == 0:
            raw.append(asyncio.run(raw_aiohttp_round(emulator, calls)))
        timed, retained = asyncio.run(calls_async_round(emulator, calls))
        lib.append(timed)
        if index % 2 == 1:
            raw.append(asyncio.run(raw_aiohttp_round(emulator, calls)))
    raw_rate = [r.rate for r in raw]
    lib_rate = [r.rate for r in lib]
    raw_cpu = [r.cpu_per_request_us for r in raw]
    lib_cpu = [r.cpu_per_request_us for r in lib]
    return {
        "benchmark": "control",
        "calls": calls,
        "rounds": rounds,
        "raw_aiohttp_rps": spread(raw_rate),
        "calls_async_rps": spread(lib_rate),
        "throughput_ratio_best": max(lib_rate) / max(raw_rate),
        "throughput_ratio_median": statistics.median(lib_rate)
        / statistics.median(raw_rate),
        "raw_aiohttp_cpu_us": spread(raw_cpu),
        "calls_async_cpu_us": spread(lib_cpu),
        "cpu_ratio_median": statistics.median(lib_cpu) / statistics.median(raw_cpu),
        "cpu_ratio_best": min(lib_cpu) / min(raw_cpu),
        "retained_after_hang_up": retained,
    }


def describe(result: dict[str, Any]) -> str:
    raw = result["raw_aiohttp_rps"]
    lib = result["calls_async_rps"]
    return (
        f"{result['calls']:>6} calls"
        f"  raw aiohttp {raw['max']:>6.0f} req/s (median {raw['median']:.0f})"
        f"  calls_async {lib['max']:>6.0f} req/s (median {lib['median']:.0f})"
        f"  ratio {result['throughput_ratio_best']:.2f}"
        f"  CPU/request {result['raw_aiohttp_cpu_us']['median']:.0f} us vs"
        f" {result['calls_async_cpu_us']['median']:.0f} us"
        f" (ratio {result['cpu_ratio_median']:.2f})"
        f"  retained after hang-up {result['retained_after_hang_up']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls",
        type=positive_int,
        nargs="+",
        default=[300],
        help="calls driven at once; one measurement per value (default 300)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=5, help="rounds per client (default 5)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line per size"
    )
    args = parser.parse_args()
    with running_emulator() as emulator:
        for calls in args.calls:
            result = measure(emulator, calls, args.rounds)
            emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
