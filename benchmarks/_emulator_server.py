"""Run one emulator for a benchmark and print its URLs as one JSON line.

This is ``python -m calls_async emulator --port 0 --urls-json`` with two additions
that the benchmarks need: emulator settings from the command line, such as
``--setting prompt_duration=3600``, and a notification token signed with the
emulator's key, so that a load generator can post signed notifications.

The server stops on SIGTERM or SIGINT, or when its standard input reaches end of
file, which happens when the benchmark that started it exits without stopping it.

    python -m benchmarks._emulator_server --setting prompt_duration=3600
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import threading

from calls_async.testing import Emulator, EmulatorSettings


def _parse_settings(pairs: list[str]) -> dict[str, float]:
    names = {field.name for field in dataclasses.fields(EmulatorSettings)}
    settings: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in names:
            raise SystemExit(
                f"invalid --setting {pair!r}: expected NAME=NUMBER with NAME a field "
                "of calls_async.testing.EmulatorSettings"
            )
        settings[name] = float(value)
    return settings


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    sys.stdin.read()
    loop.call_soon_threadsafe(stop.set)


async def _serve(settings: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True).start()
    async with Emulator("127.0.0.1", 0, **settings) as emulator:
        urls = {
            "base_url": emulator.base_url,
            "token_url": emulator.token_url,
            "openid_configuration_url": emulator.openid_configuration_url,
            "app_id": emulator.app_id,
            "notification_token": emulator.sign_notification_token(),
        }
        print(json.dumps(urls), flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=NUMBER",
        help="an EmulatorSettings field, such as prompt_duration=3600 (seconds)",
    )
    args = parser.parse_args()
    asyncio.run(_serve(_parse_settings(args.setting)))


if __name__ == "__main__":
    main()
