"""``calls-async demo``: the scenarios of :mod:`calls_async._demo_scenarios`, at once.

On the embedded emulator the bot runs behind a real webhook on loopback with token
checking on, so operations complete from signed notifications. With a base URL the
outbound scenario runs against a real tenant. The group and inbound scenarios need
the emulator's participants and callers, so they are skipped there.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TextIO

import attrs

from calls_async._client import CallsClient
from calls_async._demo_scenarios import (
    InboundScenario,
    ScenarioStats,
    inbound_callers,
    run_group_call,
    run_outbound_call,
)
from calls_async._errors import CallsError
from calls_async._retry import DEFAULT_RETRY, RetryPolicy

if TYPE_CHECKING:
    from calls_async.testing import Emulator

__all__ = ["DemoSettings", "DemoSummary", "run_demo"]

# The emulator never fetches prompts, so this address is only a name.
EMULATOR_PROMPT = "https://media.example.com/calls-async/prompt.wav"


@attrs.define(kw_only=True)
class DemoSettings:
    """The scenarios the demo drives and the service it drives them against."""

    calls: int = 20
    groups: int = 3
    inbound: int = 10
    base_url: str | None = None
    callback_uri: str | None = None
    target_user_id: str = "a1b2c3d4-0000-4000-8000-00000000u001"
    prompt_uri: str | None = None
    timeout: float = 60.0
    fault_rate: float = 0.0


@attrs.define
class DemoSummary:
    """Counts of a demo run, and whether every call reached its expected outcome."""

    outbound: int = 0
    outbound_ok: int = 0
    groups: int = 0
    groups_ok: int = 0
    inbound: int = 0
    inbound_ok: int = 0
    failures: list[str] = attrs.field(factory=list)
    stats: ScenarioStats = attrs.field(factory=ScenarioStats)
    requests: int = 0
    completed_by: dict[str, int] = attrs.field(factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every call reached its expected outcome."""
        return (
            not self.failures
            and self.outbound_ok == self.outbound
            and self.groups_ok == self.groups
            and self.inbound_ok == self.inbound
        )

    def table(self) -> str:
        """Render the summary as a plain text table."""
        stats = self.stats
        rows = [
            ("outbound calls as expected", f"{self.outbound_ok} of {self.outbound}"),
            ("group calls as expected", f"{self.groups_ok} of {self.groups}"),
        ]
        for outcome, count in sorted(stats.group_outcomes.items()):
            rows.append((f"  {outcome}", str(count)))
        rows.append(
            ("inbound calls as expected", f"{self.inbound_ok} of {self.inbound}")
        )
        for outcome, count in sorted(stats.inbound_outcomes.items()):
            rows.append((f"  {outcome}", str(count)))
        rows += [
            ("requests", str(self.requests)),
            ("operations completed", str(stats.operations_completed)),
            (
                "operations failed as expected (cancelled, 8508)",
                str(stats.operations_failed_expected),
            ),
        ]
        for source in ("response", "notification", "polling"):
            count = self.completed_by.get(source, 0)
            rows.append((f"  final status from {source}", str(count)))
        latencies = stats.operation_latencies
        rows += [
            ("operation latency p50", _ms(_percentile(latencies, 50))),
            ("operation latency p95", _ms(_percentile(latencies, 95))),
            ("elapsed", f"{self.elapsed:.2f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        lines += [f"FAILED: {failure}" for failure in self.failures[:20]]
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class _Progress:
    """One updating line on a terminal, or a plain line a second when piped."""

    def __init__(self, out: TextIO, client: CallsClient, total: int) -> None:
        self._out = out
        self._client = client
        self._total = total
        self._tty = out.isatty()
        self._last = 0.0
        self.done = 0

    def step(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self._tty else 1.0):
            return
        self._last = now
        text = (
            f"calls finished {self.done}/{self._total}, "
            f"requests {self._client.requests_sent}"
        )
        self._out.write("\r" + text if self._tty else text + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._tty:
            self._out.write("\n")
            self._out.flush()


@attrs.define
class _Stack:
    client: CallsClient
    prompt: str
    emulator: Emulator | None


@contextlib.asynccontextmanager
async def _local_stack(
    settings: DemoSettings, emulator: Emulator | None = None
) -> AsyncIterator[_Stack]:
    """Start the emulator (unless given one), a client and its webhook on loopback."""
    from calls_async.testing import Emulator

    if emulator is not None:
        async with _bot_stack(settings, emulator) as stack:
            yield stack
        return
    async with Emulator() as started, _bot_stack(settings, started) as stack:
        yield stack


@contextlib.asynccontextmanager
async def _bot_stack(
    settings: DemoSettings, emulator: Emulator
) -> AsyncIterator[_Stack]:
    from aiohttp import web

    from calls_async.webhook import create_app

    retry = DEFAULT_RETRY
    if settings.fault_rate > 0:
        retry = _inject_faults(emulator, settings.fault_rate)
    async with emulator.credential() as credential:
        client = CallsClient(
            credential,
            callback_uri="http://127.0.0.1:1/calls",
            base_url=emulator.base_url,
            operation_timeout=settings.timeout,
            retry=retry,
        )
        async with client:
            app = create_app(
                client,
                app_id=emulator.app_id,
                openid_configuration_url=emulator.openid_configuration_url,
            )
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                client.callback_uri = f"http://127.0.0.1:{port}/calls"
                yield _Stack(client, EMULATOR_PROMPT, emulator)
            finally:
                await runner.cleanup()


def _inject_faults(emulator: Emulator, rate: float) -> RetryPolicy:
    """Throttle half of ``rate`` of the requests and reset the other half.

    The resets happen before the emulator processes the request, so resending a POST
    after one cannot duplicate an action. That is why this run may opt in to
    ``retry_after_send``. Against Graph a reset POST may have been processed, and
    the default policy does not resend it.
    """
    emulator.faults.add(
        "status", status=429, retry_after=0.05, probability=rate / 2, seed=1
    )
    emulator.faults.add("reset", processed=False, probability=rate / 2, seed=2)
    return RetryPolicy(
        attempts=8, base_delay=0.05, max_delay=0.5, deadline=30, retry_after_send=True
    )


@contextlib.asynccontextmanager
async def _remote_stack(settings: DemoSettings) -> AsyncIterator[_Stack]:
    """Build a client for a real Graph tenant, with credentials from the environment."""
    from azure.identity.aio import EnvironmentCredential

    if not settings.callback_uri or not settings.prompt_uri:
        raise ValueError(
            "--base-url needs --callback-uri (your bot's public https callback) and "
            "--prompt-uri (an https WAV file the service can fetch)"
        )
    assert settings.base_url is not None
    async with EnvironmentCredential() as credential:
        client = CallsClient(
            credential,
            callback_uri=settings.callback_uri,
            base_url=settings.base_url,
            operation_timeout=settings.timeout,
        )
        async with client:
            yield _Stack(client, settings.prompt_uri, None)


async def _run_all(
    jobs: Sequence[tuple[str, Callable[[], Awaitable[object]]]],
    summary: DemoSummary,
    progress: _Progress,
) -> int:
    """Run the jobs at once; return how many reached their expected outcome."""
    ok = 0

    async def run(name: str, job: Callable[[], Awaitable[object]]) -> None:
        nonlocal ok
        try:
            await job()
        except (CallsError, AssertionError, TimeoutError) as err:
            summary.failures.append(f"{name}: {type(err).__name__}: {err}")
        else:
            ok += 1
        finally:
            progress.done += 1
            progress.step()

    await asyncio.gather(*(run(name, job) for name, job in jobs))
    return ok


async def _drive(stack: _Stack, settings: DemoSettings, out: TextIO) -> DemoSummary:
    client = stack.client
    summary = DemoSummary(outbound=settings.calls)
    if stack.emulator is not None:
        summary.inbound = settings.inbound
        summary.groups = settings.groups
    total = summary.outbound + summary.groups + summary.inbound
    progress = _Progress(out, client, total)
    started = time.monotonic()

    def outbound() -> Awaitable[None]:
        return run_outbound_call(
            client,
            summary.stats,
            target_user_id=settings.target_user_id,
            prompt=stack.prompt,
            establish_timeout=settings.timeout,
            operation_timeout=settings.timeout,
        )

    jobs = [(f"outbound call {i}", outbound) for i in range(settings.calls)]
    summary.outbound_ok = await _run_all(jobs, summary, progress)
    if summary.groups:
        group_jobs: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (
                f"group call {i}",
                lambda i=i: run_group_call(  # type: ignore[misc]
                    client, summary.stats, index=i, timeout=settings.timeout
                ),
            )
            for i in range(summary.groups)
        ]
        summary.groups_ok = await _run_all(group_jobs, summary, progress)
    if stack.emulator is not None and settings.inbound:
        scenario = InboundScenario(
            client, stack.emulator, summary.stats, stack.prompt, settings.timeout
        )
        scenario.install()
        callers = inbound_callers(settings.inbound)
        inbound_jobs: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"inbound call from {c}", lambda c=c: scenario.ring(c))  # type: ignore[misc]
            for c in callers
        ]
        summary.inbound_ok = await _run_all(inbound_jobs, summary, progress)
    progress.step(force=True)
    progress.close()
    summary.elapsed = time.monotonic() - started
    summary.requests = client.requests_sent
    summary.completed_by = dict(client.operations.completed_by)
    return summary


async def run_demo(
    settings: DemoSettings,
    out: TextIO = sys.stdout,
    *,
    emulator: Emulator | None = None,
) -> DemoSummary:
    """Run the demo scenarios and return their summary.

    ``emulator`` is a running emulator to use instead of starting one.
    """
    counts = {"--calls": settings.calls, "--groups": settings.groups}
    counts["--inbound"] = settings.inbound
    for option, value in counts.items():
        if value < 0:
            raise ValueError(f"{option} is {value}; give 0 or more")
    if not 0 <= settings.fault_rate < 1:
        raise ValueError(
            f"--faults is {settings.fault_rate}; give a fraction from 0 to below 1"
        )
    if settings.fault_rate and settings.base_url:
        raise ValueError("--faults injects faults into the emulator; drop --base-url")
    if not any(counts.values()):
        raise ValueError("--calls, --groups and --inbound are all 0; give one call")
    stack = (
        _remote_stack(settings)
        if settings.base_url
        else _local_stack(settings, emulator)
    )
    async with stack as running:
        where = settings.base_url or "the embedded emulator"
        others = ""
        if running.emulator is not None:
            others = (
                f", then {settings.groups} group calls and {settings.inbound} "
                "incoming calls"
            )
        out.write(
            f"Driving {settings.calls} outgoing calls at once{others}, "
            f"against {where}\n"
        )
        if running.emulator is None and (settings.inbound or settings.groups):
            out.write(
                "The group and inbound scenarios need the emulator's participants "
                "and callers: skipped\n"
            )
        summary = await _drive(running, settings, out)
    out.write(summary.table() + "\n")
    out.write(("PASSED" if summary.ok else "FAILED") + "\n")
    return summary
