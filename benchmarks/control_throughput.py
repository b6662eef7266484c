"""Control throughput: calls_async against raw aiohttp on the same emulator.

The emulator runs in its own process on loopback. For each client, N calls are
created first (not timed); then every call sends cancelMediaProcessing,
updateRecordingStatus, unmute and DELETE one after another, all N calls at once, and
the timed part is that burst of 4 x N requests. The two clients take turns for
``--rounds`` rounds and the best round of each is reported, so a slow moment of the
machine does not decide the ratio. CPU is the client process's user+system time over
the burst, divided by its requests.

    python benchmarks/control_throughput.py --calls 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from calls_async import (
    CallsClient,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    RecordingStatus,
    ServiceHostedMediaConfig,
)
from calls_async.testing import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorCredential,
)

# Notifications go only to loopback callbacks, so this one keeps the emulator from
# posting them: the benchmark measures request handling, not the notification sender.
CALLBACK_URI = "https://bot.example.com/callback"
USER_ID = "a1b2c3d4-0000-4000-8000-00000000u001"
CONNECTION_LIMIT = 100


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    base_url: str
    token_url: str


def start_emulator() -> Emulator:
    """Start ``calls-async emulator`` on a free loopback port and read its URLs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calls_async", "emulator", "--port", "0", "--urls-json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the emulator process exited before printing its URLs")
    urls = json.loads(line)
    return Emulator(process, urls["base_url"], urls["token_url"])


def _credential(emulator: Emulator) -> EmulatorCredential:
    return EmulatorCredential(emulator.token_url, DEFAULT_APP_ID, DEFAULT_CLIENT_SECRET)


@dataclass
class Round:
    requests: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu_seconds / self.requests * 1e6


async def _timed(requests: int, burst: Callable[[], Awaitable[None]]) -> Round:
    cpu_started = time.process_time()
    started = time.perf_counter()
    await burst()
    seconds = time.perf_counter() - started
    return Round(requests, seconds, time.process_time() - cpu_started)


async def raw_aiohttp_round(emulator: Emulator, calls: int) -> Round:
    """The same workload with aiohttp and hand-written JSON."""
    async with _credential(emulator) as credential:
        token = (
            await credential.get_token("https://graph.microsoft.com/.default")
        ).token
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
    async with aiohttp.ClientSession(connector=connector) as session:
        base = emulator.base_url + "/communications/calls"

        def headers() -> dict[str, str]:
            return {
                "Authorization": "Bearer " + token,
                "client-request-id": str(uuid.uuid4()),
                "Content-Type": "application/json",
            }

        create_body = json.dumps(
            {
                "callbackUri": CALLBACK_URI,
                "requestedModalities": ["audio"],
                "mediaConfig": {
                    "@odata.type": "#microsoft.graph.serviceHostedMediaConfig"
                },
                "targets": [{"identity": {"user": {"id": USER_ID}}}],
            }
        ).encode()

        async def create() -> str:
            async with session.post(base, data=create_body, headers=headers()) as r:
                assert r.status == 201, r.status
                return str((await r.json())["id"])

        ids = await asyncio.gather(*(create() for _ in range(calls)))
        await asyncio.sleep(0.3)

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

        async def burst() -> None:
            await asyncio.gather(*(control(i) for i in ids))

        return await _timed(4 * calls, burst)


async def calls_async_round(emulator: Emulator, calls: int) -> Round:
    """The workload through the public calls_async API."""
    async with _credential(emulator) as credential:
        client = CallsClient(
            credential,
            callback_uri=CALLBACK_URI,
            base_url=emulator.base_url,
            connection_limit=CONNECTION_LIMIT,
        )
        async with client:
            target = InvitationParticipantInfo(
                identity=IdentitySet(user=Identity(id=USER_ID))
            )
            media = ServiceHostedMediaConfig()
            handles = await asyncio.gather(
                *(
                    client.calls.create(targets=[target], media_config=media)
                    for _ in range(calls)
                )
            )
            await asyncio.sleep(0.3)

            async def control(call: object) -> None:
                from calls_async import Call

                assert isinstance(call, Call)
                await call.cancel_media_processing()
                await call.update_recording_status(RecordingStatus.RECORDING)
                await call.unmute()
                await call.hang_up()

            async def burst() -> None:
                await asyncio.gather(*(control(c) for c in handles))

            return await _timed(4 * calls, burst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[300])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line per size"
    )
    args = parser.parse_args()
    emulator = start_emulator()
    try:
        for calls in args.calls:
            raw: list[Round] = []
            lib: list[Round] = []
            for _ in range(args.rounds):
                raw.append(asyncio.run(raw_aiohttp_round(emulator, calls)))
                lib.append(asyncio.run(calls_async_round(emulator, calls)))
            best_raw = max(raw, key=lambda r: r.rate)
            best_lib = max(lib, key=lambda r: r.rate)
            cpu_raw = min(r.cpu_per_request_us for r in raw)
            cpu_lib = min(r.cpu_per_request_us for r in lib)
            result = {
                "calls": calls,
                "raw_aiohttp_rps": round(best_raw.rate),
                "calls_async_rps": round(best_lib.rate),
                "throughput_ratio": round(best_lib.rate / best_raw.rate, 3),
                "raw_aiohttp_cpu_us_per_request": round(cpu_raw, 1),
                "calls_async_cpu_us_per_request": round(cpu_lib, 1),
                "cpu_ratio": round(cpu_lib / cpu_raw, 3),
            }
            if args.json:
                print(json.dumps(result))
            else:
                print(
                    f"{calls:>6} calls"
                    f"  raw aiohttp {result['raw_aiohttp_rps']:>6} req/s"
                    f"  calls_async {result['calls_async_rps']:>6} req/s"
                    f"  ratio {result['throughput_ratio']:.2f}"
                    f"  CPU/request {cpu_raw:.0f} us vs {cpu_lib:.0f} us"
                    f" (ratio {result['cpu_ratio']:.2f})"
                )
    finally:
        emulator.process.terminate()
        emulator.process.wait(timeout=10)


if __name__ == "__main__":
    main()
