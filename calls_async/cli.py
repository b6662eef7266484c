"""The ``calls-async`` command line: ``demo`` and ``emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence

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
            "prompt, hang up. Then the emulator rings the bot M times: the bot "
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
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from calls_async._demo import DemoSettings, run_demo

    settings = DemoSettings(
        calls=args.calls,
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "demo":
        return _run_demo(args)
    return _run_emulator(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
