"""The ``calls-async`` command line: ``demo``, ``emulator`` and bulk call control.

The bulk commands (``get``, ``hang-up``, ``keep-alive``, ``play-prompt``,
``reject``) act on many calls at once. They take call ids as arguments or one per
line on standard input, run ``--concurrency`` requests at a time, and keep going
when a call fails. Each call gets one output line, tab-separated text or a JSON
object with ``--json``, in the order the calls finish. The exit status is 0 when
every call succeeded, 1 when any failed and 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs

from calls_async._bulk import BulkResult, run_bulk
from calls_async._client import CallsClient
from calls_async._errors import (
    CallTerminated,
    HTTPStatusError,
    OperationFailed,
    TransportError,
)
from calls_async._validation import MAX_PLAY_PROMPTS, check_https_uri
from calls_async.models import to_wire

if TYPE_CHECKING:
    from calls_async._auth import AsyncTokenCredential
    from calls_async._calls import Call

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calls-async",
        description="Control Microsoft Graph calls, or run the local calls emulator.",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the log lines written to standard error (default WARNING)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="drive many calls at once against the embedded emulator",
        description=(
            "Start the emulator and a bot with its webhook on loopback. Drive N "
            "outgoing calls at once: create, wait until established, play a prompt, "
            "record a response, update the recording status, cancel a playing "
            "prompt, hang up. Then G group calls: invite two participants, mute "
            "one, hold one and take them off, remove one, hang up. Then the "
            "emulator rings the bot M times: the bot "
            "answers most callers (menu prompt, one key press, hang up), rejects "
            "some as busy and redirects one. Exits 0 only when every call reached "
            "its expected outcome. With --base-url the outbound scenario runs "
            "against a real tenant, with credentials from the environment "
            "(azure-identity's EnvironmentCredential)."
        ),
    )
    demo.add_argument(
        "--calls",
        type=int,
        default=20,
        help="outgoing calls driven at once (default 20)",
    )
    demo.add_argument(
        "--faults",
        type=float,
        default=0.0,
        metavar="RATE",
        help=(
            "fraction of requests the emulator throttles (429) or resets, such as "
            "0.1 (default 0: none)"
        ),
    )
    demo.add_argument(
        "--groups",
        type=int,
        default=3,
        help="group calls driven after the outgoing calls (default 3)",
    )
    demo.add_argument(
        "--inbound",
        type=int,
        default=10,
        help="incoming calls the emulator rings the bot with (default 10)",
    )
    demo.add_argument(
        "--base-url",
        help="Graph base URL of a real tenant, such as https://graph.microsoft.com/v1.0",
    )
    demo.add_argument(
        "--callback-uri", help="the bot's public https callback (with --base-url)"
    )
    demo.add_argument(
        "--prompt-uri", help="an https WAV file to play (with --base-url)"
    )
    demo.add_argument(
        "--target-user-id", help="the Entra user id to call (with --base-url)"
    )

    emulator = commands.add_parser(
        "emulator",
        help="run the Graph calls emulator until interrupted",
        description="Serve the Graph calls API on loopback for tests and local bots.",
    )
    emulator.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    emulator.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to bind (default 8765; 0 picks one)",
    )
    emulator.add_argument(
        "--urls-json",
        action="store_true",
        help="print the URLs as one JSON line on standard output, for scripts",
    )
    _add_bulk_commands(commands)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from calls_async._demo import DemoSettings, run_demo

    settings = DemoSettings(
        calls=args.calls,
        groups=args.groups,
        fault_rate=args.faults,
        inbound=args.inbound,
        base_url=args.base_url,
        callback_uri=args.callback_uri,
        prompt_uri=args.prompt_uri,
    )
    if args.target_user_id:
        settings.target_user_id = args.target_user_id
    try:
        summary = asyncio.run(run_demo(settings))
    except ValueError as err:
        print(f"calls-async demo: {err}", file=sys.stderr)
        return 2
    return 0 if summary.ok else 1


async def _serve_emulator(host: str, port: int, urls_json: bool) -> None:
    from calls_async.testing import Emulator

    async with Emulator(host, port) as emulator:
        if urls_json:
            urls = {
                "base_url": emulator.base_url,
                "token_url": emulator.token_url,
                "openid_configuration_url": emulator.openid_configuration_url,
                "app_id": emulator.app_id,
                "tenant_id": emulator.tenant_id,
            }
            print(json.dumps(urls), flush=True)
        else:
            print(
                f"Graph base URL     {emulator.base_url}\n"
                f"Token URL          {emulator.token_url}\n"
                f"OpenID config URL  {emulator.openid_configuration_url}\n"
                f"App id             {emulator.app_id}\n"
                f"Tenant id          {emulator.tenant_id}\n"
                "Client secret      calls_async.testing.DEFAULT_CLIENT_SECRET\n"
                "Press Ctrl+C to stop.",
                flush=True,
            )
        await asyncio.Event().wait()


def _run_emulator(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_emulator(args.host, args.port, args.urls_json))
    return 0


# -- bulk call control -----------------------------------------------------------

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ENV_BASE_URL = "CALLS_ASYNC_BASE_URL"
ENV_TOKEN_URL = "CALLS_ASYNC_TOKEN_URL"
ENV_CLIENT_ID = "CALLS_ASYNC_CLIENT_ID"
ENV_CLIENT_SECRET = "CALLS_ASYNC_CLIENT_SECRET"

# The bulk commands start and answer no calls, so no request carries a callback
# URI. The client still needs one, so it gets a host in the reserved .invalid
# domain.
_UNUSED_CALLBACK_URI = "https://callback.invalid/calls"

_REJECT_REASONS = ("busy", "forbidden", "none")


class _UsageError(Exception):
    """Invalid arguments or environment, reported with exit status 2."""


@attrs.frozen
class _Done:
    """The outcome of an action on one call: its JSON result and a short text."""

    result: Any
    text: str


Action = Callable[["Call", argparse.Namespace], Awaitable[_Done]]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _bulk_options() -> argparse.ArgumentParser:
    """Return the parent parser of the options every bulk command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "call_ids",
        nargs="*",
        metavar="CALL_ID",
        help=(
            "ids of the calls to act on; with none, or with -, ids are read one per "
            "line from standard input"
        ),
    )

    common.add_argument(
        "--concurrency",
        type=_positive_int,
        default=10,
        metavar="N",
        help="calls acted on at once (default 10)",
    )

    common.add_argument(
        "--json",
        action="store_true",
        help=(
            "print one JSON object per call on standard output: id, ok, and result "
            "or error"
        ),
    )

    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="write no progress and no summary to standard error",
    )

    common.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="time limit of each request in seconds (default 30)",
    )

    service = common.add_argument_group("service and credentials")
    service.add_argument(
        "--base-url",
        help=(
            f"Graph base URL (default ${ENV_BASE_URL}, else "
            "https://graph.microsoft.com/v1.0); the emulator's is "
            "http://127.0.0.1:PORT/v1.0"
        ),
    )

    service.add_argument(
        "--token-url",
        help=(
            "get tokens from this emulator token endpoint (default "
            f"${ENV_TOKEN_URL}). Without it, azure-identity's EnvironmentCredential "
            "reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        ),
    )

    service.add_argument(
        "--client-id",
        help=(
            f"app id for --token-url (default ${ENV_CLIENT_ID}, else the emulator's "
            "default app id)"
        ),
    )

    service.add_argument(
        "--client-secret",
        help=(
            f"client secret for --token-url (default ${ENV_CLIENT_SECRET}, else the "
            "emulator's default secret); prefer the variable, which keeps the "
            "secret out of the process list"
        ),
    )
    return common


def _add_bulk_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    common = _bulk_options()

    get = commands.add_parser(
        "get",
        parents=[common],
        help="fetch calls and print their state",
        description="Fetch each call (GET) and print its state.",
    )
    get.set_defaults(action=_get)

    hang_up = commands.add_parser(
        "hang-up",
        parents=[common],
        help="hang up calls",
        description="End the bot's leg of each call (DELETE).",
    )
    hang_up.set_defaults(action=_hang_up)

    keep_alive = commands.add_parser(
        "keep-alive",
        parents=[common],
        help="keep calls alive",
        description=(
            "Send keepAlive for each call. The service ends a call that has had no "
            "successful keepAlive for 45 minutes."
        ),
    )
    keep_alive.set_defaults(action=_keep_alive)

    play_prompt = commands.add_parser(
        "play-prompt",
        parents=[common],
        help="play prompts in calls and wait until they have played",
        description=(
            "Queue prompts in each call and wait until they have played, or until "
            "they are queued with --no-wait. Without a webhook the wait polls "
            "GET .../operations/{id}, which the emulator serves but Microsoft "
            "Graph does not document; against Graph, prefer --no-wait."
        ),
    )
    play_prompt.add_argument(
        "--uri",
        action="append",
        required=True,
        metavar="URI",
        help="https URI of a WAV file to play; repeat for several prompts (1 to 20)",
    )
    play_prompt.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the prompts are queued instead of when they have played",
    )
    play_prompt.add_argument(
        "--wait-timeout",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="time to wait for the prompts to finish playing (default 300)",
    )
    play_prompt.set_defaults(action=_play_prompt)

    reject = commands.add_parser(
        "reject",
        parents=[common],
        help="reject incoming calls",
        description="Reject each incoming call, with a reason.",
    )
    reject.add_argument(
        "--reason",
        choices=_REJECT_REASONS,
        default="none",
        help="the reject reason the caller sees (default none)",
    )
    reject.set_defaults(action=_reject)


# -- the actions, one call each ----------------------------------------------------


async def _get(call: Call, args: argparse.Namespace) -> _Done:
    props = await call.refresh(timeout=args.timeout)
    return _Done(to_wire(props), str(props.state))


async def _hang_up(call: Call, args: argparse.Namespace) -> _Done:
    await call.hang_up(timeout=args.timeout)
    return _Done(None, "hung up")


async def _keep_alive(call: Call, args: argparse.Namespace) -> _Done:
    await call.keep_alive(timeout=args.timeout)
    return _Done(None, "kept alive")


async def _play_prompt(call: Call, args: argparse.Namespace) -> _Done:
    op = await call.play_prompt(args.uri, timeout=args.timeout)
    if args.no_wait:
        return _Done(to_wire(op.latest), f"queued, operation {op.id} {op.status}")
    final = await op.wait(timeout=args.wait_timeout)
    return _Done(to_wire(final), f"played, operation {op.id} {op.status}")


async def _reject(call: Call, args: argparse.Namespace) -> _Done:
    await call.reject(reason=args.reason, timeout=args.timeout)
    return _Done(None, f"rejected, reason {args.reason}")


# -- input, credentials and output --------------------------------------------------


def _read_call_ids(arguments: Sequence[str], stdin: IO[str] | None) -> list[str]:
    """Return the call ids from the arguments, with ``-`` read from standard input.

    With no arguments, standard input is read unless it is a terminal.
    """
    if not arguments:
        if stdin is None or stdin.isatty():
            raise _UsageError(
                "no call ids given; pass them as arguments, or one per line on "
                "standard input"
            )
        arguments = ["-"]
    call_ids: list[str] = []
    for argument in arguments:
        if argument != "-":
            call_ids.append(argument)
            continue
        if stdin is None:
            raise _UsageError("- reads call ids from standard input, which is closed")
        call_ids.extend(line.strip() for line in stdin if line.strip())
    return call_ids


def _check_prompt_uris(uris: Sequence[str]) -> None:
    if len(uris) > MAX_PLAY_PROMPTS:
        raise _UsageError(
            f"{len(uris)} --uri options given; one playPrompt takes at most "
            f"{MAX_PLAY_PROMPTS} prompts"
        )
    for uri in uris:
        try:
            check_https_uri(uri, "--uri")
        except ValueError as err:
            raise _UsageError(str(err)) from None


@contextlib.asynccontextmanager
async def _open_credential(
    args: argparse.Namespace,
) -> AsyncIterator[AsyncTokenCredential]:
    """Yield the emulator credential with --token-url, else EnvironmentCredential."""
    token_url = args.token_url or os.environ.get(ENV_TOKEN_URL)
    client_id = args.client_id or os.environ.get(ENV_CLIENT_ID)
    client_secret = args.client_secret or os.environ.get(ENV_CLIENT_SECRET)
    if token_url:
        from calls_async.testing import (
            DEFAULT_APP_ID,
            DEFAULT_CLIENT_SECRET,
            EmulatorCredential,
        )

        async with EmulatorCredential(
            token_url,
            client_id or DEFAULT_APP_ID,
            client_secret or DEFAULT_CLIENT_SECRET,
        ) as emulator_credential:
            yield emulator_credential
        return
    if args.client_id or args.client_secret:
        raise _UsageError(
            "--client-id and --client-secret apply only with --token-url; for "
            "Microsoft Graph set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET instead"
        )
    if not os.environ.get("AZURE_CLIENT_ID"):
        raise _UsageError(
            "no credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET (read by azure-identity's EnvironmentCredential), "
            f"or give --token-url (or ${ENV_TOKEN_URL}) for the emulator"
        )
    from azure.identity.aio import EnvironmentCredential

    async with EnvironmentCredential() as environment_credential:
        yield environment_credential


def _error_json(err: Exception) -> dict[str, Any]:
    """Describe an exception for --json: type, message, status and request ids."""
    info: dict[str, Any] = {
        "type": type(err).__name__,
        "message": str(err),
        "status": None,
        "code": None,
        "request_id": None,
        "client_request_id": None,
    }
    if isinstance(err, HTTPStatusError):
        info["message"] = err.message or str(err)
        info["status"] = err.status
        info["code"] = err.code
        info["request_id"] = err.request_id
        info["client_request_id"] = err.client_request_id
    elif isinstance(err, TransportError):
        info["client_request_id"] = err.client_request_id
    elif isinstance(err, OperationFailed | CallTerminated):
        info["result_code"] = err.code
        info["result_subcode"] = err.subcode
    return info


class _Progress:
    """A bar redrawn in place on a terminal, or a plain line at most once a second."""

    _WIDTH = 30

    def __init__(self, stream: IO[str], total: int) -> None:
        self._stream = stream
        self._total = total
        self._tty = stream.isatty()
        self._last = time.monotonic()
        self._drawn = False

    def update(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if now - self._last < (0.1 if self._tty else 1.0):
            return
        self._last = now
        counts = f"{done}/{self._total} calls done, {failed} failed"
        if self._tty:
            filled = self._WIDTH * done // max(self._total, 1)
            bar = "#" * filled + "-" * (self._WIDTH - filled)
            self._stream.write(f"\r[{bar}] {counts}")
            self._drawn = True
        else:
            self._stream.write(counts + "\n")
        self._stream.flush()

    def clear(self) -> None:
        """Erase the bar, so that a line written to the same terminal stays whole."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False


class _Reporter:
    """Writes one line per finished call to stdout, and progress to stderr."""

    def __init__(
        self,
        command: str,
        total: int,
        *,
        as_json: bool,
        quiet: bool,
        out: IO[str],
        err: IO[str],
    ) -> None:
        self._command = command
        self._total = total
        self._as_json = as_json
        self._out = out
        self._err = err
        self._progress = None if quiet else _Progress(err, total)
        self.done = 0
        self.failed = 0

    def report(self, result: BulkResult[str, _Done]) -> None:
        self.done += 1
        self.failed += not result.ok
        if self._progress is not None:
            self._progress.clear()
        self._out.write(self._format(result) + "\n")
        self._out.flush()
        if self._progress is not None:
            self._progress.update(self.done, self.failed)

    def _format(self, result: BulkResult[str, _Done]) -> str:
        if self._as_json:
            line: dict[str, Any] = {"id": result.item, "ok": result.ok}
            if result.error is not None:
                line["error"] = _error_json(result.error)
            else:
                assert result.value is not None
                line["result"] = result.value.result
            return json.dumps(line)
        if result.error is not None:
            return (
                f"failed\t{result.item}\t{type(result.error).__name__}: {result.error}"
            )
        assert result.value is not None
        return f"ok\t{result.item}\t{result.value.text}"

    def finish(self) -> None:
        if self._progress is None:
            return
        self._progress.clear()
        succeeded = self.done - self.failed
        self._err.write(
            f"calls-async {self._command}: {succeeded} of {self._total} calls "
            f"succeeded, {self.failed} failed\n"
        )
        self._err.flush()


async def _control_calls(args: argparse.Namespace, call_ids: Sequence[str]) -> int:
    base_url = args.base_url or os.environ.get(ENV_BASE_URL)
    if (args.token_url or os.environ.get(ENV_TOKEN_URL)) and not base_url:
        raise _UsageError(
            "--token-url gets emulator tokens, which only the emulator accepts; "
            "give its --base-url too, such as http://127.0.0.1:8765/v1.0"
        )
    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    reporter = _Reporter(
        args.command,
        len(call_ids),
        as_json=args.json,
        quiet=args.quiet,
        out=sys.stdout,
        err=sys.stderr,
    )
    action: Action = args.action
    async with _open_credential(args) as credential:
        try:
            client = CallsClient(
                credential,
                callback_uri=_UNUSED_CALLBACK_URI,
                timeout=args.timeout,
                connection_limit=args.concurrency,
                **options,
            )
        except ValueError as err:
            raise _UsageError(str(err)) from None
        async with client:
            results = await run_bulk(
                call_ids,
                lambda call_id: _act(client, call_id, action, args),
                concurrency=args.concurrency,
                on_result=reporter.report,
            )
    reporter.finish()
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


async def _act(
    client: CallsClient, call_id: str, action: Action, args: argparse.Namespace
) -> _Done:
    return await action(client.calls[call_id], args)


def _run_bulk_command(args: argparse.Namespace) -> int:
    prefix = f"calls-async {args.command}"
    try:
        if args.command == "play-prompt":
            _check_prompt_uris(args.uri)
        call_ids = _read_call_ids(args.call_ids, sys.stdin)
        if not call_ids:
            if not args.quiet:
                print(f"{prefix}: no call ids on standard input", file=sys.stderr)
            return EXIT_OK
        return asyncio.run(_control_calls(args, call_ids))
    except _UsageError as err:
        print(f"{prefix}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of standard output has gone, as with `| head`. Point stdout at
        # /dev/null so that the flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "demo":
        return _run_demo(args)
    if args.command == "emulator":
        return _run_emulator(args)
    return _run_bulk_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
