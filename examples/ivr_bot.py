"""A small IVR bot: answer, play a menu, route by key press, record a message, hang up.

Against the embedded emulator, which rings the bot a few times and presses keys as
the callers would:

    python examples/ivr_bot.py --emulator

Against Microsoft Graph, with credentials from the environment (AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) and a public https callback URI that reaches
this process (for example through a reverse proxy to port 8080):

    python examples/ivr_bot.py --callback-uri https://bot.example.com/calls \\
        --prompt-base https://cdn.example.com/ivr --port 8080

The menu: 1 leaves a message (recorded and saved to --recordings), 2 plays the
opening hours, any other key or no key within 10 s says goodbye.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from calls_async import (
    Call,
    CallEvent,
    CallsClient,
    CallsError,
    CallState,
    ServiceHostedMediaConfig,
    ToneReceived,
)
from calls_async.testing import Emulator, EmulatorError
from calls_async.webhook import DEFAULT_OPENID_CONFIGURATION_URL, create_app

log = logging.getLogger("ivr_bot")

KEY_WAIT = 10.0


class IvrBot:
    """The call flow; one instance serves every call of a client."""

    def __init__(self, prompt_base: str, recordings: Path) -> None:
        self.prompt_base = prompt_base.rstrip("/")
        self.recordings = recordings
        self.outcomes: dict[str, str] = {}

    def prompt(self, name: str) -> str:
        return f"{self.prompt_base}/{name}.wav"

    async def on_call(self, call: Call) -> None:
        """Handle one incoming call from ring to hang-up."""
        events = call.events()
        await call.answer(media_config=ServiceHostedMediaConfig())
        await call.wait_for_state(CallState.ESTABLISHED, timeout=15)
        await call.subscribe_to_tone()
        await call.play_prompt([self.prompt("menu")])
        key = await self._next_key(events)
        try:
            if key == "tone1":
                outcome = await self._take_message(call)
            elif key == "tone2":
                await (await call.play_prompt([self.prompt("hours")]))
                outcome = "heard the opening hours"
            else:
                await (await call.play_prompt([self.prompt("goodbye")]))
                outcome = f"said goodbye (key {key})"
            self.outcomes[call.id] = outcome
            log.info("Call %s: %s", call.id, outcome)
        finally:
            if not call.ended:
                await call.hang_up()

    async def _next_key(self, events: AsyncIterator[CallEvent]) -> str | None:
        try:
            async with asyncio.timeout(KEY_WAIT):
                async for event in events:
                    if isinstance(event, ToneReceived):
                        return str(event.tone)
        except TimeoutError:
            pass
        return None

    async def _take_message(self, call: Call) -> str:
        recording = await (
            await call.record_response(
                prompts=[self.prompt("after-the-beep")],
                max_record_duration=60,
                stop_tones=["#"],
            )
        )
        audio = await call.download_recording(recording)
        self.recordings.mkdir(parents=True, exist_ok=True)
        path = self.recordings / f"{call.id}.wav"
        path.write_bytes(audio)
        await (await call.play_prompt([self.prompt("thank-you")]))
        return f"left a message of {len(audio)} bytes in {path}"


async def serve(
    client: CallsClient,
    bot: IvrBot,
    app_id: str,
    openid_configuration_url: str = DEFAULT_OPENID_CONFIGURATION_URL,
) -> web.AppRunner:
    """Register the bot's handler and set up the webhook's server."""
    client.on_incoming_call(bot.on_call)
    app = create_app(
        client, app_id=app_id, openid_configuration_url=openid_configuration_url
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return runner


async def run_on_emulator(args: argparse.Namespace) -> int:
    """Ring the bot as a few callers on the emulator and check every outcome."""
    keys = ["tone1", "tone2", "tone9"] * args.calls
    expected = {
        "tone1": "left a message",
        "tone2": "heard the opening",
        "tone9": "said goodbye",
    }
    async with Emulator() as emulator, emulator.credential() as credential:
        async with CallsClient(
            credential,
            callback_uri="http://127.0.0.1:1/calls",
            base_url=emulator.base_url,
        ) as client:
            bot = IvrBot("https://media.example.com/ivr", Path(args.recordings))
            runner = await serve(
                client,
                bot,
                emulator.app_id,
                openid_configuration_url=emulator.openid_configuration_url,
            )
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                client.callback_uri = f"http://127.0.0.1:{port}/calls"
                results = await asyncio.gather(
                    *(_caller(emulator, client, key) for key in keys[: args.calls])
                )
            finally:
                await runner.cleanup()
    failures = 0
    for call_id, key in results:
        outcome = bot.outcomes.get(call_id, "no outcome")
        ok = outcome.startswith(expected[key])
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} pressed {key}: {outcome}")
    return 1 if failures else 0


async def _caller(emulator: Emulator, client: CallsClient, key: str) -> tuple[str, str]:
    """Play one caller: ring, press ``key`` once the bot listens, wait for the end."""
    call_id = await emulator.ring(client.callback_uri)
    call = client.calls[call_id]
    async with asyncio.timeout(30):
        while True:
            try:
                # The emulator refuses tones until the bot has subscribed to them.
                await emulator.press_tones(call_id, [key])
                break
            except EmulatorError:
                await asyncio.sleep(0.02)
    await call.wait_for_state(CallState.TERMINATED, timeout=30)
    return call_id, key


async def run_on_graph(args: argparse.Namespace) -> int:
    """Serve the webhook for a real tenant until interrupted."""
    from azure.identity.aio import EnvironmentCredential

    app_id = args.app_id or os.environ.get("AZURE_CLIENT_ID")
    if not args.callback_uri or not args.prompt_base or not app_id:
        print(
            "ivr_bot: give --callback-uri, --prompt-base and --app-id (or set "
            "AZURE_CLIENT_ID)",
            file=sys.stderr,
        )
        return 2
    async with EnvironmentCredential() as credential:
        async with CallsClient(credential, callback_uri=args.callback_uri) as client:
            bot = IvrBot(args.prompt_base, Path(args.recordings))
            runner = await serve(client, bot, app_id)
            try:
                await web.TCPSite(runner, args.host, args.port).start()
                print(f"Serving the webhook on {args.host}:{args.port}/calls")
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="A small IVR bot on calls_async.")
    parser.add_argument(
        "--emulator", action="store_true", help="run against the embedded emulator"
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=3,
        help="callers to ring with --emulator (default 3)",
    )
    parser.add_argument("--callback-uri", help="the bot's public https callback URI")
    parser.add_argument(
        "--prompt-base", help="https folder holding menu.wav, hours.wav, ..."
    )
    parser.add_argument("--app-id", help="the bot's app id (default: AZURE_CLIENT_ID)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve the webhook on"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port to serve the webhook on"
    )
    parser.add_argument(
        "--recordings", default="recordings", help="folder for recorded messages"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runner = run_on_emulator if args.emulator else run_on_graph
    try:
        return asyncio.run(runner(args))
    except CallsError as err:
        print(f"ivr_bot: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
