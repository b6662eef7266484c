"""Notification throughput and resume latency: the Redis bus against the in-process bus.

Each measurement tracks N pending playPrompt handles on one client, with a task
awaiting each, and a poster in a separate process sends one operation-completed
notification per handle to a webhook on loopback. The latency of a notification is
the time from its arrival at the webhook (an aiohttp middleware stamps it before the
token check) to the moment its awaiting task resumes. Throughput is N divided by the
time from the first arrival to the last resume.

Buses compared:

- ``in-process``: the default, webhook and awaiting task in one client;
- ``redis``: a RedisBus, webhook and awaiting task in one client, so each entry
  goes to Redis and back;
- ``redis, 2 instances``: the webhook belongs to instance B and the handles to
  instance A, both RedisBus clients in this process, which is the multi-instance
  case.

The script starts its own redis-server on 127.0.0.1 (``--save '' --appendonly
no``, or with ``--aof`` also one with appendonly yes and appendfsync always).
Tokens are not checked, so the cost measured is the bus and the dispatch.

    python benchmarks/bench_bus.py --count 2000 --concurrency 1 32
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis
from aiohttp import web

from calls_async import CallsClient, PlayPromptOperation, PollingPolicy
from calls_async.bus import NotificationBus
from calls_async.redis_bus import RedisBus
from calls_async.webhook import create_app

CALL_ID = "bench-call"
OP_HEADER = "X-Bench-Op"


@dataclass
class Result:
    bus: str
    concurrency: int
    count: int
    per_second: float
    p50_ms: float
    p99_ms: float


class _Credential:
    """A credential for a client that never sends a Graph request."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise RuntimeError("the benchmark sends no Graph request")


# -- redis-server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def redis_server(*, aof: bool) -> AsyncIterator[str]:
    """Run a redis-server on a free loopback port and yield its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        sys.exit("redis-server is not installed: apt-get install -y redis-server")
    port = _free_port()
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if aof else []
    with tempfile.TemporaryDirectory() as directory:
        process = await asyncio.create_subprocess_exec(
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            directory,
            "--save",
            "",
            *(persistence or ["--appendonly", "no"]),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        probe = aioredis.Redis(port=port)
        try:
            for _ in range(500):
                try:
                    await probe.ping()
                    break
                except redis.ConnectionError:
                    await asyncio.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            await probe.aclose()
            process.terminate()
            await process.wait()


# -- one measurement --------------------------------------------------------------


def _client(bus: NotificationBus | None) -> CallsClient:
    return CallsClient(
        _Credential(),
        callback_uri="http://127.0.0.1:9/calls",
        base_url="http://127.0.0.1:9/v1.0",
        polling=PollingPolicy.off(),
        operation_timeout=60,
        bus=bus,
    )


@contextlib.asynccontextmanager
async def webhook(
    client: CallsClient, arrivals: dict[int, float]
) -> AsyncIterator[str]:
    """Serve the client's webhook, stamping each request's arrival."""

    @web.middleware
    async def stamp(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        arrivals[int(request.headers[OP_HEADER])] = time.perf_counter()
        return await handler(request)

    app = create_app(client, verify_tokens=False)
    app.middlewares.append(stamp)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/calls"
    finally:
        await runner.cleanup()


async def measure(
    label: str,
    waiting: CallsClient,
    receiving: CallsClient,
    *,
    count: int,
    concurrency: int,
    first_op: int,
) -> Result:
    """Post ``count`` completions to ``receiving``; await them on ``waiting``."""
    arrivals: dict[int, float] = {}
    resumed: dict[int, float] = {}
    call = waiting.calls[CALL_ID]
    ops = range(first_op, first_op + count)

    async def wait_for(index: int) -> None:
        first = PlayPromptOperation(
            id=f"op-{index}", status="running", client_context=f"ctx-{index}"
        )
        await waiting.operations.track(call, first, client_context=f"ctx-{index}")
        resumed[index] = time.perf_counter()

    async with webhook(receiving, arrivals) as url:
        await receiving._start_bus()
        await waiting._start_bus()
        waiters = [asyncio.create_task(wait_for(i)) for i in ops]
        await asyncio.sleep(0)
        poster = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--post",
            url,
            "--first",
            str(first_op),
            "--count",
            str(count),
            "--concurrency",
            str(concurrency),
        )
        await poster.wait()
        async with asyncio.timeout(60):
            await asyncio.gather(*waiters)
    latencies = sorted((resumed[i] - arrivals[i]) * 1000 for i in ops)
    elapsed = max(resumed.values()) - min(arrivals.values())
    return Result(
        bus=label,
        concurrency=concurrency,
        count=count,
        per_second=count / elapsed,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    )


async def run_bus(
    label: str, redis_url: str | None, args: argparse.Namespace
) -> list[Result]:
    """Measure one kind of bus at every concurrency, after a warm-up."""
    buses: list[RedisBus] = []
    if redis_url is None:
        waiting = receiving = _client(None)
    else:
        prefix = f"bench-{len(label)}-{time.monotonic_ns()}"
        buses.append(RedisBus(redis_url, instance="bench-a", key_prefix=prefix))
        waiting = receiving = _client(buses[0])
        if label.endswith("2 instances"):
            buses.append(RedisBus(redis_url, instance="bench-b", key_prefix=prefix))
            receiving = _client(buses[1])
    results = []
    try:
        next_op = 0
        await measure(
            label, waiting, receiving, count=200, concurrency=8, first_op=next_op
        )
        next_op += 200
        for concurrency in args.concurrency:
            result = await measure(
                label,
                waiting,
                receiving,
                count=args.count,
                concurrency=concurrency,
                first_op=next_op,
            )
            next_op += args.count
            results.append(result)
    finally:
        for client in {id(waiting): waiting, id(receiving): receiving}.values():
            await client.aclose()
        for bus in buses:
            await bus.aclose()
    return results


# -- the poster process -----------------------------------------------------------


async def post_all(url: str, first: int, count: int, concurrency: int) -> None:
    """Send one operation-completed notification per op, ``concurrency`` at once."""
    next_index = first
    end = first + count

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < end:
            index = next_index
            next_index += 1
            body = {
                "value": [
                    {
                        "changeType": "deleted",
                        "resourceUrl": (
                            f"/communications/calls/{CALL_ID}/operations/op-{index}"
                        ),
                        "resourceData": {
                            "@odata.type": "#microsoft.graph.playPromptOperation",
                            "id": f"op-{index}",
                            "status": "completed",
                            "clientContext": f"ctx-{index}",
                        },
                    }
                ]
            }
            headers = {OP_HEADER: str(index), "Content-Type": "application/json"}
            async with session.post(url, data=json.dumps(body), headers=headers) as r:
                await r.read()
                if r.status != 202:
                    raise RuntimeError(f"the webhook returned {r.status}, not 202")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


# -- report -----------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    header = f"{'bus':<26}{'conc':>5}{'n':>7}{'notif/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.bus:<26}{r.concurrency:>5}{r.count:>7}{r.per_second:>10.0f}"
            f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
        )
    print()
    print("Against in-process at the same concurrency:")
    base = {r.concurrency: r for r in results if r.bus == "in-process"}
    for r in results:
        ref = base.get(r.concurrency)
        if r.bus == "in-process" or ref is None:
            continue
        print(
            f"  {r.bus:<24} conc {r.concurrency:>3}: throughput "
            f"x{r.per_second / ref.per_second:.2f}, p50 x{r.p50_ms / ref.p50_ms:.1f} "
            f"(+{r.p50_ms - ref.p50_ms:.2f} ms), p99 x{r.p99_ms / ref.p99_ms:.1f}"
        )


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("calls_async").setLevel(logging.ERROR)
    results = await run_bus("in-process", None, args)
    async with redis_server(aof=False) as url:
        results += await run_bus("redis", url, args)
        results += await run_bus("redis, 2 instances", url, args)
    if args.aof:
        async with redis_server(aof=True) as url:
            results += await run_bus("redis aof, 2 instances", url, args)
    version = redis.__version__
    print(
        f"Python {platform.python_version()}, redis-py {version}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; poster in its own process"
    )
    print_table(results)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="notifications per run")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 32],
        help="notifications in flight at once, one run each",
    )
    parser.add_argument(
        "--aof", action="store_true", help="also run on Redis with appendfsync always"
    )
    parser.add_argument("--post", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.post:
        asyncio.run(
            post_all(
                arguments.post,
                arguments.first,
                arguments.count,
                arguments.concurrency[0],
            )
        )
    else:
        asyncio.run(main(arguments))
