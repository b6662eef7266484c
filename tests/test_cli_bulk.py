"""Bulk call control: run_bulk, and the CLI's bulk commands run as subprocesses.

The CLI runs as ``python -m calls_async`` against an emulator served by the test
process, so each test can set up calls first and check the emulator's state after.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import attrs
import pytest

from calls_async import (
    BulkResult,
    Call,
    CallsClient,
    CallState,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    ServiceHostedMediaConfig,
    run_bulk,
)
from calls_async.testing import Emulator

# Not a loopback host, so the emulator records no notification attempts for it.
CALLBACK_URI = "https://bot.invalid/calls"
PROMPT = "https://media.example.com/hello.wav"
CLI_TIMEOUT = 60.0

# -- run_bulk -----------------------------------------------------------------------


async def test_run_bulk_keeps_input_order() -> None:
    async def double(item: int) -> int:
        await asyncio.sleep(0.01 * (5 - item))
        return item * 2

    results = await run_bulk(range(5), double, concurrency=5)

    assert [result.index for result in results] == [0, 1, 2, 3, 4]
    assert [result.value for result in results] == [0, 2, 4, 6, 8]
    assert all(result.ok for result in results)


async def test_run_bulk_failure_spares_others() -> None:
    finished: list[int] = []

    async def work(item: int) -> int:
        if item == 1:
            raise LookupError(f"no item {item}")
        await asyncio.sleep(0.02)
        finished.append(item)
        return item

    results = await run_bulk([0, 1, 2, 3], work, concurrency=4)

    assert finished == [0, 2, 3]
    assert [result.ok for result in results] == [True, False, True, True]
    assert isinstance(results[1].error, LookupError)
    assert results[1].value is None
    with pytest.raises(LookupError, match="no item 1"):
        results[1].unwrap()
    assert results[2].unwrap() == 2


async def test_run_bulk_factory_error_is_kept() -> None:
    def factory(item: str) -> Any:
        raise ValueError(f"bad item {item!r}")

    results = await run_bulk(["a"], factory, concurrency=1)

    assert isinstance(results[0].error, ValueError)


async def test_run_bulk_bounds_concurrency() -> None:
    running = 0
    peak = 0

    async def work(item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    results = await run_bulk(range(20), work, concurrency=3)

    assert len(results) == 20
    assert peak == 3


async def test_run_bulk_reads_generator_lazily() -> None:
    taken: list[int] = []
    running = 0
    peak_taken_ahead = 0

    def items() -> Iterator[int]:
        for item in range(10):
            taken.append(item)
            yield item

    async def work(item: int) -> None:
        nonlocal running, peak_taken_ahead
        running += 1
        peak_taken_ahead = max(peak_taken_ahead, len(taken) - item)
        await asyncio.sleep(0.005)
        running -= 1

    await run_bulk(items(), work, concurrency=2)

    assert taken == list(range(10))
    assert peak_taken_ahead <= 2


async def test_run_bulk_empty_input() -> None:
    async def work(item: int) -> int:
        return item

    assert await run_bulk([], work, concurrency=4) == []


async def test_run_bulk_calls_on_result() -> None:
    seen: list[BulkResult[int, int]] = []

    async def work(item: int) -> int:
        return item

    await run_bulk([3, 4], work, concurrency=1, on_result=seen.append)

    assert [result.item for result in seen] == [3, 4]


async def test_run_bulk_on_result_error_stops_all() -> None:
    started: list[int] = []

    async def work(item: int) -> int:
        started.append(item)
        await asyncio.sleep(0 if item == 0 else 5)
        return item

    def explode(result: BulkResult[int, int]) -> None:
        raise RuntimeError(f"report of item {result.item} failed")

    with pytest.raises(RuntimeError, match="item 0"):
        async with asyncio.timeout(2):
            await run_bulk(range(10), work, concurrency=3, on_result=explode)
    assert started == [0, 1, 2]


async def test_run_bulk_cancellation_propagates() -> None:
    cancelled = 0

    async def work(item: int) -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    task = asyncio.create_task(run_bulk(range(4), work, concurrency=4))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == 4


@pytest.mark.parametrize(
    ("concurrency", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)],
)
async def test_run_bulk_rejects_bad_concurrency(
    concurrency: Any, error: type[Exception]
) -> None:
    async def work(item: int) -> int:
        return item

    with pytest.raises(error, match="concurrency"):
        await run_bulk([1], work, concurrency=concurrency)


# -- the CLI ------------------------------------------------------------------------


@attrs.frozen
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {entry["id"]: entry for entry in self.json_lines()}


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without Azure or calls-async settings, plus extra."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AZURE_", "CALLS_ASYNC_"))
    }
    env.update(extra)
    return env


async def run_cli(
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> CliResult:
    """Run ``python -m calls_async ARGS`` with ``stdin`` piped in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "calls_async",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else _clean_env(),
    )
    async with asyncio.timeout(CLI_TIMEOUT):
        stdout, stderr = await process.communicate(stdin.encode())
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


def emulator_args(emulator: Emulator) -> list[str]:
    return ["--base-url", emulator.base_url, "--token-url", emulator.token_url]


@pytest.fixture
async def bulk_client(emulator: Emulator) -> AsyncIterator[CallsClient]:
    async with emulator.credential() as credential:
        async with CallsClient(
            credential, callback_uri=CALLBACK_URI, base_url=emulator.base_url
        ) as client:
            yield client


async def established_calls(client: CallsClient, count: int) -> list[Call]:
    async def one(index: int) -> Call:
        call = await client.calls.create(
            targets=[
                InvitationParticipantInfo(
                    identity=IdentitySet(user=Identity(id=f"user-{index}"))
                )
            ],
            media_config=ServiceHostedMediaConfig(),
        )
        await call.wait_for_state(CallState.ESTABLISHED, timeout=10)
        return call

    return list(await asyncio.gather(*(one(index) for index in range(count))))


def requests_to(emulator: Emulator, method: str, suffix: str) -> list[Any]:
    return [
        request
        for request in emulator.requests
        if request.method == method and request.path.endswith(suffix)
    ]


async def test_get_prints_each_state(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    calls = await established_calls(bulk_client, 2)
    ids = [call.id for call in calls]

    result = await run_cli("get", *emulator_args(emulator), *ids)

    assert result.returncode == 0, result.stderr
    assert sorted(result.lines) == sorted(f"ok\t{id_}\testablished" for id_ in ids)
    assert "2 of 2 calls succeeded, 0 failed" in result.stderr


async def test_get_json_has_resource(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    calls = await established_calls(bulk_client, 2)

    result = await run_cli(
        "get", "--json", *emulator_args(emulator), *(call.id for call in calls)
    )

    assert result.returncode == 0, result.stderr
    entries = result.by_id()
    assert set(entries) == {call.id for call in calls}
    for call in calls:
        entry = entries[call.id]
        assert entry["ok"] is True
        assert entry["result"]["id"] == call.id
        assert entry["result"]["state"] == "established"
        assert "error" not in entry


async def test_hang_up_ends_calls(emulator: Emulator, bulk_client: CallsClient) -> None:
    calls = await established_calls(bulk_client, 3)

    result = await run_cli("hang-up", *emulator_args(emulator), *(c.id for c in calls))

    assert result.returncode == 0, result.stderr
    assert len(result.lines) == 3
    assert all(line.endswith("\thung up") for line in result.lines)
    async with asyncio.timeout(5):
        for call in calls:
            await emulator.wait_for_state(call.id, None)
    assert len(requests_to(emulator, "DELETE", "")) == 3


async def test_keep_alive_posts_each_call(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    calls = await established_calls(bulk_client, 2)

    result = await run_cli(
        "keep-alive", *emulator_args(emulator), *(c.id for c in calls)
    )

    assert result.returncode == 0, result.stderr
    assert all(line.endswith("\tkept alive") for line in result.lines)
    posted = {
        r.path.split("/")[-2] for r in requests_to(emulator, "POST", "/keepAlive")
    }
    assert posted == {call.id for call in calls}


async def test_play_prompt_waits_until_played(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    calls = await established_calls(bulk_client, 2)

    result = await run_cli(
        "play-prompt",
        "--json",
        "--uri",
        PROMPT,
        "--uri",
        "https://media.example.com/bye.wav",
        *emulator_args(emulator),
        *(call.id for call in calls),
    )

    assert result.returncode == 0, result.stderr
    entries = result.by_id()
    for call in calls:
        operation = entries[call.id]["result"]
        assert operation["status"] == "completed"
        resource = emulator.operation_resource(call.id, operation["id"])
        assert resource is not None
        assert resource["status"] == "completed"
    bodies = [r.body for r in requests_to(emulator, "POST", "/playPrompt")]
    uris = [[p["mediaInfo"]["uri"] for p in body["prompts"]] for body in bodies]
    assert uris == [[PROMPT, "https://media.example.com/bye.wav"]] * 2


async def test_play_prompt_no_wait_returns_queued() -> None:
    async with Emulator(establish_delay=0.01, prompt_duration=30) as emulator:
        async with emulator.credential() as credential:
            async with CallsClient(
                credential, callback_uri=CALLBACK_URI, base_url=emulator.base_url
            ) as client:
                (call,) = await established_calls(client, 1)

                result = await run_cli(
                    "play-prompt",
                    "--no-wait",
                    "--json",
                    "--uri",
                    PROMPT,
                    *emulator_args(emulator),
                    call.id,
                )

                assert result.returncode == 0, result.stderr
                (entry,) = result.json_lines()
                assert entry["result"]["status"] == "running"
                resource = emulator.operation_resource(call.id, entry["result"]["id"])
                assert resource is not None
                assert resource["status"] == "running"
                await call.hang_up()


async def test_reject_sends_reason(emulator: Emulator) -> None:
    ids = [await emulator.ring(CALLBACK_URI) for _ in range(2)]

    result = await run_cli("reject", "--reason", "busy", *emulator_args(emulator), *ids)

    assert result.returncode == 0, result.stderr
    assert all(line.endswith("\trejected, reason busy") for line in result.lines)
    bodies = [r.body for r in requests_to(emulator, "POST", "/reject")]
    assert bodies == [{"reason": "busy"}, {"reason": "busy"}]
    for call_id in ids:
        assert emulator.call_state(call_id) is None


async def test_reject_reason_defaults_to_none(emulator: Emulator) -> None:
    call_id = await emulator.ring(CALLBACK_URI)

    result = await run_cli("reject", *emulator_args(emulator), call_id)

    assert result.returncode == 0, result.stderr
    assert [r.body for r in requests_to(emulator, "POST", "/reject")] == [
        {"reason": "none"}
    ]


async def test_ids_read_from_stdin(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    calls = await established_calls(bulk_client, 3)
    piped = "".join(f"  {call.id}\n\n" for call in calls)

    result = await run_cli("get", *emulator_args(emulator), stdin=piped)

    assert result.returncode == 0, result.stderr
    assert sorted(line.split("\t")[1] for line in result.lines) == sorted(
        call.id for call in calls
    )


async def test_dash_mixes_args_and_stdin(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    first, second = await established_calls(bulk_client, 2)

    result = await run_cli(
        "get", "--json", *emulator_args(emulator), first.id, "-", stdin=second.id
    )

    assert result.returncode == 0, result.stderr
    assert set(result.by_id()) == {first.id, second.id}


async def test_empty_stdin_does_nothing(emulator: Emulator) -> None:
    result = await run_cli("hang-up", *emulator_args(emulator), stdin="")

    assert result.returncode == 0
    assert result.stdout == ""
    assert "no call ids on standard input" in result.stderr


async def test_mixed_outcomes_exit_1(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    (call,) = await established_calls(bulk_client, 1)
    missing = "00000000-0000-4000-8000-000000000404"

    result = await run_cli(
        "hang-up", "--json", *emulator_args(emulator), call.id, missing
    )

    assert result.returncode == 1, result.stderr
    entries = result.by_id()
    assert entries[call.id]["ok"] is True
    assert entries[call.id]["result"] is None
    failure = entries[missing]
    assert failure["ok"] is False
    assert "result" not in failure
    error = failure["error"]
    assert error["type"] == "NotFoundError"
    assert error["status"] == 404
    assert error["code"] == "itemNotFound"
    assert error["request_id"]
    assert error["client_request_id"]
    assert missing in error["message"]
    assert "1 of 2 calls succeeded, 1 failed" in result.stderr


async def test_plain_failure_line(emulator: Emulator) -> None:
    missing = "00000000-0000-4000-8000-000000000404"

    result = await run_cli("keep-alive", *emulator_args(emulator), missing)

    assert result.returncode == 1
    status, call_id, detail = result.stdout.rstrip("\n").split("\t")
    assert status == "failed"
    assert call_id == missing
    assert detail.startswith("NotFoundError: ")
    assert "request-id" in detail


async def test_wrong_secret_fails_every_call(emulator: Emulator) -> None:
    result = await run_cli(
        "get",
        "--json",
        *emulator_args(emulator),
        "--client-secret",
        "not-the-secret",
        "call-a",
        "call-b",
    )

    assert result.returncode == 1
    types = {entry["error"]["type"] for entry in result.json_lines()}
    assert types == {"AuthenticationError"}


async def test_settings_from_environment(
    emulator: Emulator, bulk_client: CallsClient
) -> None:
    (call,) = await established_calls(bulk_client, 1)
    env = _clean_env(
        CALLS_ASYNC_BASE_URL=emulator.base_url,
        CALLS_ASYNC_TOKEN_URL=emulator.token_url,
        CALLS_ASYNC_CLIENT_ID=emulator.app_id,
        CALLS_ASYNC_CLIENT_SECRET=emulator.client_secret,
    )

    result = await run_cli("get", call.id, env=env)

    assert result.returncode == 0, result.stderr
    assert result.lines == [f"ok\t{call.id}\testablished"]


async def test_concurrency_limits_requests() -> None:
    prompt_duration = 0.3
    async with Emulator(
        establish_delay=0.01, prompt_duration=prompt_duration
    ) as emulator:
        async with emulator.credential() as credential:
            async with CallsClient(
                credential, callback_uri=CALLBACK_URI, base_url=emulator.base_url
            ) as client:
                calls = await established_calls(client, 4)

                result = await run_cli(
                    "play-prompt",
                    "--concurrency",
                    "2",
                    "--uri",
                    PROMPT,
                    *emulator_args(emulator),
                    *(call.id for call in calls),
                )

                assert result.returncode == 0, result.stderr
                started = sorted(
                    r.time for r in requests_to(emulator, "POST", "/playPrompt")
                )
                assert len(started) == 4
                # The third prompt can start only once one of the first two played.
                assert started[2] - started[0] >= prompt_duration * 0.9
                assert started[1] - started[0] < prompt_duration


async def test_progress_bar_on_terminal() -> None:
    async with Emulator(establish_delay=0.01, prompt_duration=0.05) as emulator:
        async with emulator.credential() as credential:
            async with CallsClient(
                credential, callback_uri=CALLBACK_URI, base_url=emulator.base_url
            ) as client:
                calls = await established_calls(client, 3)
                ids = [call.id for call in calls]
                args = ["--concurrency", "1", "--uri", PROMPT, *emulator_args(emulator)]

                stderr = await run_cli_with_terminal_stderr("play-prompt", *args, *ids)
                piped = await run_cli("play-prompt", *args, *ids)

    assert "\r[" in stderr
    assert "calls done" in stderr
    assert "3 of 3 calls succeeded" in stderr
    assert "\r" not in piped.stderr
    assert "3 of 3 calls succeeded" in piped.stderr


async def run_cli_with_terminal_stderr(*args: str) -> str:
    """Run the CLI with standard error on a pseudo-terminal and return what it wrote."""
    controller, terminal = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "calls_async",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=terminal,
            env=_clean_env(),
        )
        os.close(terminal)
        terminal = -1
        async with asyncio.timeout(CLI_TIMEOUT):
            output = await asyncio.to_thread(_read_until_closed, controller)
            await process.wait()
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    return output.decode(errors="replace")


def _read_until_closed(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the other side of the terminal has closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_no_ids_on_terminal_is_usage_error(emulator: Emulator) -> None:
    controller, terminal = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "calls_async",
            "get",
            *emulator_args(emulator),
            stdin=terminal,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_clean_env(),
        )
        async with asyncio.timeout(CLI_TIMEOUT):
            _, stderr = await process.communicate()
    finally:
        os.close(terminal)
        os.close(controller)

    assert process.returncode == 2
    assert b"no call ids given" in stderr


USAGE_ERRORS: Sequence[tuple[str, list[str], str]] = [
    ("concurrency 0", ["get", "--concurrency", "0", "x"], "less than 1"),
    ("concurrency text", ["get", "--concurrency", "many", "x"], "invalid integer"),
    ("timeout negative", ["get", "--timeout", "-1", "x"], "not a positive number"),
    ("unknown reason", ["reject", "--reason", "later", "x"], "invalid choice"),
    ("prompt without uri", ["play-prompt", "x"], "--uri"),
    (
        "plain http prompt",
        ["play-prompt", "--uri", "http://media.example.com/a.wav", "x"],
        "is not an https URL",
    ),
    ("21 prompts", ["play-prompt", *["--uri", PROMPT] * 21, "x"], "at most 20"),
    ("client id alone", ["get", "--client-id", "app", "x"], "only with --token-url"),
    ("no credentials", ["get", "x"], "no credentials"),
    (
        "token url alone",
        ["get", "--token-url", "http://127.0.0.1:9/token", "x"],
        "give its --base-url",
    ),
    (
        "plain http graph",
        [
            "get",
            "--base-url",
            "http://graph.example.com/v1.0",
            "--token-url",
            "http://127.0.0.1:9/token",
            "x",
        ],
        "must use https",
    ),
    ("unknown command", ["answer-all"], "invalid choice"),
]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [pytest.param(args, message, id=name) for name, args, message in USAGE_ERRORS],
)
async def test_usage_error_exits_2(arguments: list[str], message: str) -> None:
    result = await run_cli(*arguments)

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stdout == ""


async def test_demo_still_runs() -> None:
    result = await run_cli("demo", "--calls", "2", "--inbound", "2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("PASSED")


async def test_emulator_command_prints_urls() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "calls_async",
        "emulator",
        "--port",
        "0",
        "--urls-json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_clean_env(),
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(CLI_TIMEOUT):
            line = await process.stdout.readline()
        urls = json.loads(line)
        assert urls["base_url"].startswith("http://127.0.0.1:")
        assert urls["token_url"].startswith(urls["base_url"].removesuffix("/v1.0"))
    finally:
        process.terminate()
        await process.communicate()
