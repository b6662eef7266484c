"""CPU of the webhook handler alone: one notification applied and its waiter resumed.

Method. The emulator runs in its own process and never finishes a prompt. The bot
creates N calls with one pending playPrompt each, and one task awaits each handle.
Then ``CallbackHandler.handle`` is called directly with N requests built in
advance by ``aiohttp.test_utils.make_mocked_request``, each with its whole body in
the stream, and the event loop runs between every 16 of them so the waiters resume.
The process's CPU time over that loop, divided by N, is the cost of the handler and
of the resume, without HTTP parsing, sockets or aiohttp's server. Several batches
run one after another, each with fresh calls, and the best batch is reported, since
a batch can only be slowed by other work on the machine.

    python -m benchmarks.webhook_alone --pending 1000 --batches 10 [--signed]

With ``--signed`` every request carries the same token, which the warm-up request
verifies. The timed requests find it in the validator's cache, as the service's
notifications do when it reuses a token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from typing import Any

from aiohttp import streams, web
from aiohttp.test_utils import make_mocked_request

from benchmarks._common import (
    EmulatorEndpoints,
    emit,
    emulator_client,
    gather_bounded,
    positive_int,
    running_emulator,
    target,
)
from benchmarks.notification_intake import (
    EMULATOR_SETTINGS,
    PROMPT,
    WEBHOOK_PATH,
    completion_body,
)
from calls_async import CallsClient, Operation, ServiceHostedMediaConfig
from calls_async.webhook import CallbackHandler

# Requests handled between two turns of the event loop. aiohttp's server also runs
# several handlers in one turn when requests arrive together, and 16 is a guess.
REQUESTS_PER_TURN = 16


class _IdleProtocol:
    """The part of aiohttp's protocol a StreamReader calls when a read drains it."""

    _reading_paused = False

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass

    def pause_reading(self) -> None:
        pass


def request_with_body(body: bytes, token: str | None) -> web.Request:
    """Build a POST whose body is already in its stream, as a small one is."""
    payload = streams.StreamReader(
        _IdleProtocol(),  # type: ignore[arg-type]
        2**16,
        loop=asyncio.get_running_loop(),
    )
    payload.feed_data(body)
    payload.feed_eof()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if token:
        headers["Authorization"] = "Bearer " + token
    return make_mocked_request("POST", WEBHOOK_PATH, headers=headers, payload=payload)


async def one_batch(
    client: CallsClient, handler: CallbackHandler, pending: int, token: str | None
) -> float:
    """Complete ``pending`` handles through the handler and return the CPU time
    per notification in microseconds."""
    media = ServiceHostedMediaConfig()
    calls = await gather_bounded(
        client.calls.create(targets=[target()], media_config=media)
        for _ in range(pending)
    )
    ops = await gather_bounded(call.play_prompt([PROMPT]) for call in calls)
    resumed = 0

    async def await_completion(op: Operation[Any]) -> None:
        nonlocal resumed
        await op
        resumed += 1

    waiters = [asyncio.create_task(await_completion(op)) for op in ops]
    await asyncio.sleep(0)
    requests = [
        request_with_body(
            json.dumps(
                completion_body(op.call.id, str(op.id), op.client_context)
            ).encode(),
            token,
        )
        for op in ops
    ]
    started = time.process_time()
    for index, request in enumerate(requests):
        reply = await handler.handle(request)
        if reply.status != 202:
            raise RuntimeError(f"the handler returned status {reply.status}")
        if index % REQUESTS_PER_TURN == REQUESTS_PER_TURN - 1:
            await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    cpu = time.process_time() - started
    await asyncio.gather(*waiters)
    if resumed != pending:
        raise RuntimeError(f"{resumed} of {pending} awaiting tasks resumed")
    await gather_bounded(call.hang_up() for call in calls)
    return cpu / pending * 1e6


async def measure(
    emulator: EmulatorEndpoints, pending: int, batches: int, signed: bool
) -> dict[str, Any]:
    async with emulator_client(emulator) as client:
        handler = CallbackHandler(
            client,
            app_id=emulator.app_id,
            verify_tokens=signed,
            openid_configuration_url=emulator.openid_configuration_url,
        )
        token = emulator.notification_token if signed else None
        # The first request fetches the signing keys, which is not timed.
        empty = json.dumps({"value": []}).encode()
        await handler.handle(request_with_body(empty, token))
        costs = [
            await one_batch(client, handler, pending, token) for _ in range(batches)
        ]
    return {
        "benchmark": "webhook_alone",
        "pending": pending,
        "batches": batches,
        "signed": signed,
        "best_us": min(costs),
        "median_us": statistics.median(costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pending",
        type=positive_int,
        default=1000,
        help="handles per batch (default 1000)",
    )
    parser.add_argument(
        "--batches", type=positive_int, default=10, help="batches to run (default 10)"
    )
    parser.add_argument(
        "--signed",
        action="store_true",
        help=(
            "send a signed token with each request; the validator verifies it once "
            "and then finds it in its cache, as for the service's reused tokens"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    logging.getLogger("calls_async.notifications.webhook").setLevel(logging.ERROR)
    with running_emulator(**EMULATOR_SETTINGS) as emulator:
        result = asyncio.run(measure(emulator, args.pending, args.batches, args.signed))
    text = (
        f"{'signed' if args.signed else 'unsigned'}: best batch "
        f"{result['best_us']:.1f} us per notification, median "
        f"{result['median_us']:.1f} us ({args.batches} batches of {args.pending})"
    )
    emit(result, args.json, text)


if __name__ == "__main__":
    main()
