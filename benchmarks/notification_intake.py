"""Operation completion by notification: webhook intake rate and resume latency.

Method. The emulator runs in its own process with ``prompt_duration`` set to an hour,
so a playPrompt stays ``running`` and the emulator never completes it. The bot
process creates N calls on the emulator through calls_async, with a callback URI off
loopback so the emulator posts no notifications of its own, and starts one
playPrompt on each: N pending :class:`~calls_async.Operation` handles. One task per
handle awaits it. The bot serves ``calls_async.webhook.create_app`` on loopback.

A separate load generator process (``benchmarks._notification_poster``) then POSTs
N commsNotifications bodies as fast as it can over ``--concurrency`` connections.
Each body is the notification Graph sends when a playPrompt finishes (changeType
``deleted``, the operation's resource with status ``completed``) and completes one
handle. The same generator posts the same number of bodies to a bare aiohttp.web
handler that only returns 202, which is the ceiling the webhook is compared with,
and to one that reads the body first (``bare_read``), the least any webhook does.

Measured per round:

- intake: bodies / seconds from the generator's first send to its last reply;
- CPU per notification: the bot process's user+system time over that window;
- resume latency: from the request's arrival at the webhook to the awaiting task
  running again after ``await op``. An aiohttp middleware, the first code of the
  bot to run for the request, stores the arrival's ``perf_counter()``, so both ends
  use one clock in one process.

The webhook is measured twice: with token checks off (``verify_tokens=False``) and
with every request carrying a notification token signed by the emulator's key, which
the webhook checks against the emulator's OpenID configuration. The variants take
turns for ``--rounds`` rounds, each round with fresh calls and handles.

    python -m benchmarks.notification_intake --pending 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks._common import (
    OFF_HOST_CALLBACK,
    REPO_ROOT,
    EmulatorEndpoints,
    emit,
    emulator_client,
    gather_bounded,
    percentile,
    positive_int,
    running_emulator,
    spread,
    target,
)
from calls_async import (
    Call,
    CallsClient,
    Operation,
    PlayPromptOperation,
    ServiceHostedMediaConfig,
)
from calls_async.webhook import create_app

PROMPT = "https://media.example.com/benchmark.wav"
WEBHOOK_PATH = "/calls"
# Seconds the generator process and the awaiting tasks may take in one round.
ROUND_TIMEOUT = 120.0
# The emulator plays one prompt for this long, so no playPrompt finishes by itself.
EMULATOR_SETTINGS = {"prompt_duration": 3600.0}

VARIANTS = ("bare", "bare_read", "webhook_unsigned", "webhook_signed")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Entered while the generator posts, as a profiler is.
AroundPosting = Callable[[], AbstractContextManager[object]]


@dataclass
class IntakeRound:
    """The outcome of one round of one variant."""

    variant: str
    sent: int
    seconds: float
    cpu_seconds: float
    statuses: dict[str, int]
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    @property
    def cpu_per_notification_us(self) -> float:
        return self.cpu_seconds / self.sent * 1e6


def completion_body(call_id: str, operation_id: str, client_context: str) -> Any:
    """Return the commsNotifications body of a playPrompt that has completed."""
    path = f"/communications/calls/{call_id}/operations/{operation_id}"
    return {
        "@odata.type": "#microsoft.graph.commsNotifications",
        "value": [
            {
                "@odata.type": "#microsoft.graph.commsNotification",
                "changeType": "deleted",
                "resourceUrl": path,
                "resource": path.replace("/communications/calls/", "/app/calls/", 1),
                "callbackUri": OFF_HOST_CALLBACK,
                "resourceData": {
                    "@odata.type": "#microsoft.graph.playPromptOperation",
                    "@odata.id": path,
                    "id": operation_id,
                    "clientContext": client_context,
                    "status": "completed",
                    "resultInfo": {
                        "@odata.type": "#microsoft.graph.resultInfo",
                        "code": 200,
                        "subcode": 0,
                        "message": "Action completed successfully.",
                    },
                    "completionReason": "completedSuccessfully",
                },
            }
        ],
    }


def arrival_middleware(arrivals: list[float]) -> Any:
    """Return a middleware that stores each request's arrival time by its index."""

    @web.middleware
    async def record_arrival(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        index = request.headers.get("X-Bench-Index")
        if index is not None:
            arrivals[int(index)] = time.perf_counter()
        return await handler(request)

    return record_arrival


async def bare_handler(request: web.Request) -> web.Response:
    return web.Response(status=202)


async def bare_read_handler(request: web.Request) -> web.Response:
    """Read the body, then return 202, which is the least any real webhook does."""
    await request.read()
    return web.Response(status=202)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}{WEBHOOK_PATH}"


async def run_poster(
    url: str, bodies_file: Path, count: int, token: str | None, concurrency: int
) -> dict[str, Any]:
    """Run the load generator process on the ``count`` bodies in ``bodies_file``."""
    command = [
        sys.executable,
        "-m",
        "benchmarks._notification_poster",
        "--url",
        url,
        "--bodies",
        str(bodies_file),
        "--concurrency",
        str(concurrency),
    ]
    if token:
        command += ["--token", token]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), ROUND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"the notification poster exited with {process.returncode}")
    result: dict[str, Any] = json.loads(stdout)
    if result["statuses"] != {"202": count}:
        raise RuntimeError(f"the webhook did not accept every body: {result}")
    return result


async def post_warm_up(url: str, token: str | None) -> None:
    """POST one empty envelope, so key fetches and first-use costs are not timed."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    body = {"@odata.type": "#microsoft.graph.commsNotifications", "value": []}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as reply:
            assert reply.status == 202, reply.status


async def timed_posting(
    url: str,
    bodies: list[Any],
    token: str | None,
    concurrency: int,
    around_posting: AroundPosting,
) -> tuple[dict[str, Any], float]:
    """Run the generator; return its result and the bot's CPU seconds meanwhile.

    The bodies are written to the generator's file before the clock starts, so
    encoding them does not count as the bot's CPU.
    """
    with tempfile.TemporaryDirectory() as workdir:
        bodies_file = Path(workdir) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        with around_posting():
            cpu_started = time.process_time()
            result = await run_poster(url, bodies_file, len(bodies), token, concurrency)
            return result, time.process_time() - cpu_started


async def bare_round(
    emulator: EmulatorEndpoints,
    pending: int,
    concurrency: int,
    around_posting: AroundPosting = nullcontext,
    *,
    read_body: bool = False,
) -> IntakeRound:
    arrivals = [math.nan] * pending
    app = web.Application(middlewares=[arrival_middleware(arrivals)])
    app.router.add_post(WEBHOOK_PATH, bare_read_handler if read_body else bare_handler)
    runner, url = await serve(app)
    try:
        token = emulator.notification_token
        await post_warm_up(url, token)
        bodies = [
            completion_body(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
            for _ in range(pending)
        ]
        result, cpu = await timed_posting(
            url, bodies, token, concurrency, around_posting
        )
    finally:
        await runner.cleanup()
    return IntakeRound(
        "bare_read" if read_body else "bare",
        result["sent"],
        result["seconds"],
        cpu,
        result["statuses"],
    )


async def webhook_round(
    emulator: EmulatorEndpoints,
    pending: int,
    concurrency: int,
    *,
    signed: bool,
    around_posting: AroundPosting = nullcontext,
) -> IntakeRound:
    arrivals = [math.nan] * pending
    resumed = [math.nan] * pending
    async with emulator_client(emulator) as client:
        app = create_app(
            client,
            path=WEBHOOK_PATH,
            app_id=emulator.app_id,
            verify_tokens=signed,
            openid_configuration_url=emulator.openid_configuration_url,
        )
        app.middlewares.append(arrival_middleware(arrivals))
        runner, url = await serve(app)
        try:
            return await _complete_by_notification(
                client,
                emulator,
                url,
                arrivals,
                resumed,
                concurrency,
                signed,
                around_posting,
            )
        finally:
            await runner.cleanup()


async def _complete_by_notification(
    client: CallsClient,
    emulator: EmulatorEndpoints,
    url: str,
    arrivals: list[float],
    resumed: list[float],
    concurrency: int,
    signed: bool,
    around_posting: AroundPosting,
) -> IntakeRound:
    pending = len(arrivals)
    media = ServiceHostedMediaConfig()
    calls = await gather_bounded(
        client.calls.create(targets=[target()], media_config=media)
        for _ in range(pending)
    )
    ops = await gather_bounded(call.play_prompt([PROMPT]) for call in calls)
    if any(op.done() for op in ops):
        raise RuntimeError(
            "a playPrompt completed at once, but the benchmark needs pending "
            "operations; check that the emulator's prompt_duration is long"
        )

    async def await_completion(index: int, op: Operation[PlayPromptOperation]) -> None:
        await op
        resumed[index] = time.perf_counter()

    waiters = [asyncio.create_task(await_completion(i, op)) for i, op in enumerate(ops)]
    token = emulator.notification_token if signed else None
    await post_warm_up(url, token)
    bodies = [completion_body(op.call.id, str(op.id), op.client_context) for op in ops]
    result, cpu = await timed_posting(url, bodies, token, concurrency, around_posting)
    await asyncio.wait_for(asyncio.gather(*waiters), ROUND_TIMEOUT)

    completed = client.operations.completed_by["notification"]
    if completed != pending or len(client.operations) != 0:
        raise RuntimeError(
            f"{completed} of {pending} operations completed by notification and "
            f"{len(client.operations)} are still pending"
        )
    await _hang_up_all(calls)
    latencies = sorted((r - a) * 1000 for a, r in zip(arrivals, resumed, strict=True))
    variant = "webhook_signed" if signed else "webhook_unsigned"
    return IntakeRound(
        variant, result["sent"], result["seconds"], cpu, result["statuses"], latencies
    )


async def _hang_up_all(calls: list[Call]) -> None:
    """End the round's calls, so the emulator does not keep them for the next."""
    await gather_bounded(call.hang_up() for call in calls)


def run_variant(
    emulator: EmulatorEndpoints, variant: str, pending: int, concurrency: int
) -> IntakeRound:
    if variant in ("bare", "bare_read"):
        return asyncio.run(
            bare_round(emulator, pending, concurrency, read_body=variant == "bare_read")
        )
    signed = variant == "webhook_signed"
    return asyncio.run(webhook_round(emulator, pending, concurrency, signed=signed))


def summarize(rounds: list[IntakeRound]) -> dict[str, Any]:
    rates = [r.rate for r in rounds]
    summary: dict[str, Any] = {
        "rate": spread(rates),
        "cpu_us": spread([r.cpu_per_notification_us for r in rounds]),
        "statuses": _total_statuses(rounds),
    }
    if rounds[0].latencies_ms:
        summary["p50_ms"] = spread([percentile(r.latencies_ms, 0.50) for r in rounds])
        summary["p99_ms"] = spread([percentile(r.latencies_ms, 0.99) for r in rounds])
        summary["max_ms"] = max(r.latencies_ms[-1] for r in rounds)
    return summary


def _total_statuses(rounds: list[IntakeRound]) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in rounds:
        for status, count in r.statuses.items():
            total[status] = total.get(status, 0) + count
    return total


def measure(
    emulator: EmulatorEndpoints, pending: int, rounds: int, concurrency: int
) -> dict[str, Any]:
    by_variant: dict[str, list[IntakeRound]] = {v: [] for v in VARIANTS}
    for index in range(rounds):
        # Rotate the order, so no variant always runs on a machine warmed by another.
        shift = index % len(VARIANTS)
        order = VARIANTS[shift:] + VARIANTS[:shift]
        for variant in order:
            by_variant[variant].append(
                run_variant(emulator, variant, pending, concurrency)
            )
    result: dict[str, Any] = {
        "benchmark": "notifications",
        "pending": pending,
        "rounds": rounds,
        "concurrency": concurrency,
    }
    for variant, variant_rounds in by_variant.items():
        result[variant] = summarize(variant_rounds)
    bare_rounds = by_variant["bare"]
    bare = statistics.median(r.rate for r in bare_rounds)
    for variant in ("bare_read", "webhook_unsigned", "webhook_signed"):
        variant_rounds = by_variant[variant]
        median = statistics.median(r.rate for r in variant_rounds)
        result[f"{variant}_ratio_median"] = median / bare
        # Each round is also compared with the bare round of its cycle, which ran
        # seconds before or after it, so a drift of the machine's speed cancels.
        paired = [
            r.rate / b.rate for r, b in zip(variant_rounds, bare_rounds, strict=True)
        ]
        result[f"{variant}_ratio_paired"] = spread(paired)
    return result


def describe(result: dict[str, Any]) -> str:
    lines = [
        f"{result['pending']} pending operations, {result['concurrency']} "
        f"connections, {result['rounds']} rounds"
    ]
    for variant in VARIANTS:
        summary = result[variant]
        line = (
            f"  {variant:<17} {summary['rate']['median']:>6.0f} notifications/s"
            f" (min {summary['rate']['min']:.0f}, max {summary['rate']['max']:.0f})"
            f"  CPU {summary['cpu_us']['median']:.0f} us/notification"
        )
        if "p99_ms" in summary:
            line += (
                f"  resume p50 {summary['p50_ms']['median']:.2f} ms"
                f" p99 {summary['p99_ms']['median']:.2f} ms"
                f" (max {summary['max_ms']:.2f} ms)"
            )
        if variant != "bare":
            line += (
                f"  ratio {result[variant + '_ratio_median']:.2f}"
                f" (paired {result[variant + '_ratio_paired']['median']:.2f})"
            )
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pending",
        type=positive_int,
        default=1000,
        help="pending operation handles, and notifications, per round (default 1000)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=5, help="rounds per variant (default 5)"
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        nargs="+",
        default=[64],
        help="connections of the load generator; one measurement each (default 64)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args()
    # The webhook warns once per round that token checks are off. Rejections still
    # fail the round, because a round with any status other than 202 raises.
    logging.getLogger("calls_async.notifications.webhook").setLevel(logging.ERROR)
    with running_emulator(**EMULATOR_SETTINGS) as emulator:
        for concurrency in args.concurrency:
            result = measure(emulator, args.pending, args.rounds, concurrency)
            emit(result, args.json, describe(result))


if __name__ == "__main__":
    main()
