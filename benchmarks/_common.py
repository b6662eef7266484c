"""Pieces shared by the benchmarks: the emulator process, tokens and statistics."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from calls_async import (
    CallsClient,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
)
from calls_async.testing import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorCredential,
)

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

# The emulator posts notifications only to loopback callbacks, so a callback on this
# host keeps it from posting any. A benchmark that wants notifications sends its own.
OFF_HOST_CALLBACK = "https://bot.example.com/callback"

USER_ID = "a1b2c3d4-0000-4000-8000-00000000u001"

# Connections per client, the same for every client under test. It is also
# calls_async's default, sized for Graph's limit of 100 concurrent requests.
CONNECTION_LIMIT = 100

# Seconds a benchmark waits for the emulator process to start or stop.
PROCESS_TIMEOUT = 30.0


@dataclass(frozen=True)
class EmulatorEndpoints:
    """The URLs an emulator process printed, and a notification token it signed."""

    base_url: str
    token_url: str
    openid_configuration_url: str
    app_id: str
    notification_token: str

    def credential(self) -> EmulatorCredential:
        """Return a new credential for the emulator's app; the caller closes it."""
        return EmulatorCredential(self.token_url, DEFAULT_APP_ID, DEFAULT_CLIENT_SECRET)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EmulatorEndpoints:
        return cls(**json.loads(text))


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop the process, killing it if it does not exit within the timeout."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=PROCESS_TIMEOUT)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


@contextmanager
def running_emulator(**settings: float) -> Iterator[EmulatorEndpoints]:
    """Run an emulator process with these settings for the ``with`` block.

    The process serves on a free loopback port; ``settings`` are fields of
    ``calls_async.testing.EmulatorSettings``.
    """
    command = [sys.executable, "-m", "benchmarks._emulator_server"]
    for name, value in settings.items():
        command += ["--setting", f"{name}={value}"]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited before printing its URLs")
        yield EmulatorEndpoints.from_json(line)
    finally:
        _stop(process)


@asynccontextmanager
async def emulator_client(emulator: EmulatorEndpoints) -> AsyncIterator[CallsClient]:
    """Yield a client of the emulator with the benchmarks' connection limit."""
    async with emulator.credential() as credential:
        client = CallsClient(
            credential,
            callback_uri=OFF_HOST_CALLBACK,
            base_url=emulator.base_url,
            connection_limit=CONNECTION_LIMIT,
        )
        async with client:
            yield client


async def fetch_token(emulator: EmulatorEndpoints) -> str:
    """Fetch a Graph access token from the emulator's token endpoint."""
    async with emulator.credential() as credential:
        return (await credential.get_token(GRAPH_SCOPE)).token


# Requests in flight at once during a benchmark's untimed setup (creating calls,
# starting prompts, hanging up). The client waits at most pool_timeout (10 s by
# default) for a free connection, so 10,000 requests started at once can fail.
SETUP_CONCURRENCY = 500


async def gather_bounded(
    coroutines: Iterable[Coroutine[Any, Any, T]], limit: int = SETUP_CONCURRENCY
) -> list[T]:
    """Await the coroutines with at most ``limit`` running at once; results in order.

    ``limit`` workers take the coroutines one by one from the iterable, so a lazy
    iterable creates each coroutine only when a worker is free. Starting one task per
    coroutine instead would hold thousands of suspended tasks at once, and the memory
    they leave behind would show up in the resident-memory readings.
    """
    numbered = enumerate(coroutines)
    results: dict[int, T] = {}

    async def worker() -> None:
        for index, coroutine in numbered:
            results[index] = await coroutine

    async with asyncio.TaskGroup() as group:
        for _ in range(limit):
            group.create_task(worker())
    return [results[index] for index in range(len(results))]


def target(user_id: str = USER_ID) -> InvitationParticipantInfo:
    """Return a call target: by default the one user the throughput benchmarks ring."""
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id=user_id)))


def user_id(index: int) -> str:
    """Return the id of the ``index``-th of many distinct users."""
    return f"a1b2c3d4-0000-4000-8000-{index:012d}"


def create_call_body(callback_uri: str = OFF_HOST_CALLBACK) -> bytes:
    """Return the hand-written JSON body of POST /communications/calls."""
    return json.dumps(
        {
            "callbackUri": callback_uri,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "targets": [{"identity": {"user": {"id": USER_ID}}}],
        }
    ).encode()


@dataclass
class Timed:
    """One timed burst: requests sent, wall seconds and the process's CPU seconds."""

    requests: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu_seconds / self.requests * 1e6


class Stopwatch:
    """Wall time (``perf_counter``) and process CPU time (user plus system)."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def stop(self, requests: int) -> Timed:
        return Timed(
            requests,
            time.perf_counter() - self._wall,
            time.process_time() - self._cpu,
        )


def positive_int(text: str) -> int:
    """Read a count of 1 or more, as an argparse ``type``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}, expected a whole number of 1 or more"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}, expected 1 or more")
    return value


def spread(values: Sequence[float]) -> dict[str, float]:
    """Return the median, min and max of the values of a benchmark's rounds."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile needs at least one value, got none")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def rss_bytes() -> int:
    """Return the resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def emit(result: dict[str, Any], as_json: bool, text: str) -> None:
    """Print a result as one JSON line, or as the human-readable ``text``."""
    print(json.dumps(result) if as_json else text, flush=True)
