"""The live view at /_emulator/: its page, its event stream, and the page in Chromium.

The browser test drives Debian's Chromium (/usr/bin/chromium) headless through
Playwright for Python. It fails, and does not skip, when either is missing, because
the live view has no other end-to-end test.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calls_async.testing import Emulator

ARTIFACTS = Path(__file__).parent / "artifacts"
SERVICE_HOSTED = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}
USER_TARGET = {"identity": {"user": {"id": "user-1", "displayName": "Test User"}}}
PROMPT = {
    "@odata.type": "#microsoft.graph.mediaPrompt",
    "mediaInfo": {"uri": "https://media.example.com/menu.wav"},
}
# Flags that keep Chromium from contacting any host but the emulator on loopback.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A display name that runs script if the page ever inserts it as HTML.
HOSTILE_NAME = '<img src="x" onerror="window.injected = true">Eve & <b>Bob</b>'


class Bot:
    """A webhook on loopback that accepts every notification with 202."""

    def __init__(self) -> None:
        self.received = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/calls", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/calls"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        await request.read()
        self.received += 1
        return web.Response(status=202)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    webhook = Bot()
    await webhook.start()
    yield webhook
    await webhook.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


class Graph:
    """Raw Graph requests to the emulator with one bearer token."""

    def __init__(self, session: aiohttp.ClientSession, emulator: Emulator) -> None:
        self.session = session
        self.emulator = emulator
        self.token = emulator.issue_token()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = self.emulator.base_url + path
        async with self.session.request(
            method, url, json=body, headers=headers
        ) as response:
            assert response.status < 300, await response.text()
            raw = await response.read()
            return json.loads(raw) if raw else None

    async def create_call(self, callback_uri: str) -> str:
        body = {
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": callback_uri,
            "targets": [USER_TARGET],
            "requestedModalities": ["audio"],
            "mediaConfig": SERVICE_HOSTED,
        }
        call = await self.request("POST", "/communications/calls", body)
        return str(call["id"])

    async def play_prompt(self, call_id: str) -> str:
        path = f"/communications/calls/{call_id}/playPrompt"
        operation = await self.request("POST", path, {"prompts": [PROMPT]})
        return str(operation["id"])

    async def hang_up(self, call_id: str) -> None:
        await self.request("DELETE", f"/communications/calls/{call_id}")


class EventStream:
    """Reads the JSON snapshots of /_emulator/events."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next_snapshot(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                line = await self.response.content.readline()
                if not line:
                    raise EOFError("the event stream ended")
                if line.startswith(b"data: "):
                    snapshot: dict[str, Any] = json.loads(line[len(b"data: ") :])
                    return snapshot

    async def snapshot_where(self, condition: Any) -> dict[str, Any]:
        """Return the first snapshot for which `condition(snapshot)` is true."""
        while True:
            snapshot = await self.next_snapshot()
            if condition(snapshot):
                return snapshot


def call_in(snapshot: dict[str, Any], call_id: str) -> dict[str, Any] | None:
    for call in [*snapshot["calls"], *snapshot["ended"]]:
        if call["id"] == call_id:
            return dict(call)
    return None


# -- the page -------------------------------------------------------------------


async def test_page_is_self_contained(session: aiohttp.ClientSession) -> None:
    async with Emulator() as emu:
        async with session.get(emu.live_view_url) as response:
            page = await response.text()
            headers = response.headers

    assert response.status == 200
    assert headers["Content-Type"].startswith("text/html")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert re.search(r"\b(src|href)\s*=", page) is None, "the page loads an asset"
    assert re.search(r"https?:|url\(|@import", page) is None, "the page names a URL"
    assert "innerHTML" not in page


async def test_page_path_without_slash_redirects(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator() as emu:
        url = emu.url + "/_emulator"
        async with session.get(url, allow_redirects=False) as response:
            location = response.headers["Location"]

    assert response.status == 302
    assert location == "/_emulator/"


# -- the event stream -----------------------------------------------------------


async def test_events_follow_call_and_notifications(
    session: aiohttp.ClientSession, bot: Bot
) -> None:
    # Each state lasts longer than the stream's minimum interval between snapshots.
    delays = {"establish_delay": 0.3, "terminate_delay": 0.3, "prompt_duration": 0.3}
    states: list[str] = []

    def reached(state: str) -> Any:
        def check(snapshot: dict[str, Any]) -> bool:
            call = call_in(snapshot, call_id)
            if call is not None and (not states or states[-1] != call["state"]):
                states.append(call["state"])
            return call is not None and call["state"] == state

        return check

    async with Emulator(**delays) as emu:
        graph = Graph(session, emu)
        async with session.get(emu.url + "/_emulator/events") as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            stream = EventStream(response)
            first = await stream.next_snapshot()
            call_id = await graph.create_call(bot.url)
            established = await stream.snapshot_where(reached("established"))
            operation_id = await graph.play_prompt(call_id)
            completed = await stream.snapshot_where(
                lambda s: any(
                    op["id"] == operation_id and op["status"] == "completed"
                    for op in (call_in(s, call_id) or {}).get("operations", [])
                )
            )
            await graph.hang_up(call_id)
            ended = await stream.snapshot_where(reached("terminated"))

    assert first["calls"] == []
    assert states == ["establishing", "established", "terminating", "terminated"]
    assert established["callsLive"] == 1
    operations = (call_in(completed, call_id) or {})["operations"]
    assert [op["type"] for op in operations] == ["playPromptOperation"]
    assert ended["calls"] == []
    assert [call["id"] for call in ended["ended"]] == [call_id]
    assert ended["ended"][0]["result"].startswith("200/5001")
    delivered = [n for n in ended["notifications"] if n["callId"] == call_id]
    assert delivered, "no notification row for the call"
    assert {n["status"] for n in delivered} == {202}
    assert all(n["attempts"] == 1 for n in delivered)


async def test_events_end_when_emulator_closes(session: aiohttp.ClientSession) -> None:
    emu = Emulator()
    await emu.start()
    try:
        response = await session.get(emu.url + "/_emulator/events")
        stream = EventStream(response)
        await stream.next_snapshot()
        started = time.monotonic()
        await emu.close()
        closing_time = time.monotonic() - started
        with pytest.raises(EOFError):
            await stream.next_snapshot()
        response.release()
    finally:
        await emu.close()

    # Without the feed, closing would wait out the 1 s shutdown timeout of aiohttp.
    assert closing_time < 0.9, f"closing took {closing_time:.2f} s"


async def test_feed_idle_without_views(session: aiohttp.ClientSession) -> None:
    async with Emulator(establish_delay=0.01, terminate_delay=0.01) as emu:
        feed = emu._context.feed
        graph = Graph(session, emu)
        call_id = await graph.create_call("http://127.0.0.1:9/calls")
        await graph.hang_up(call_id)
        async with asyncio.timeout(5):
            await emu.wait_for_state(call_id, None)
        idle_ended = list(feed.ended_calls)

        async with session.get(emu.url + "/_emulator/events") as response:
            await EventStream(response).next_snapshot()
            subscribed = feed.subscribers
        # The stream notices the closed connection at its next write.
        await graph.create_call("http://127.0.0.1:9/calls")
        async with asyncio.timeout(5):
            while feed.subscribers:  # noqa: ASYNC110 - the feed has no event for this
                await asyncio.sleep(0.02)

    assert idle_ended == [], "ended calls were kept while no view was open"
    assert subscribed == 1


# -- the page in Chromium -------------------------------------------------------


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed, so the live view cannot be tested: install "
            "Debian's package with `apt-get install -y chromium` (.ci/run does)"
        )
    return path


async def test_live_view_in_chromium(
    tmp_path: Path, session: aiohttp.ClientSession, bot: Bot
) -> None:
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        pytest.fail(
            "Playwright for Python is not installed, so the live view cannot be "
            "tested: pip install -e '.[test]'"
        )

    console_errors: list[str] = []
    screenshot = ARTIFACTS / "live_view.png"
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot.unlink(missing_ok=True)
    delays = {"establish_delay": 1.0, "terminate_delay": 1.0, "prompt_duration": 1.0}

    async with Emulator(**delays) as emu, async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = await browser.new_page()
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text)
                    if message.type == "error"
                    else None
                ),
            )
            await page.goto(emu.live_view_url)
            await expect(page.locator("#status")).to_have_text("live")
            await page.evaluate("window.loadedOnce = true")

            graph = Graph(session, emu)
            call_id = await graph.create_call(bot.url)
            row = page.locator(f'tr[data-call-id="{call_id}"]')
            state = row.locator(".state")
            await expect(state).to_have_text("establishing")
            await expect(state).to_have_text("established", timeout=5000)

            participant_id = await emu.join_participant(
                call_id, display_name=HOSTILE_NAME
            )
            participant = row.locator(f'li[data-participant-id="{participant_id}"]')
            await expect(participant).to_contain_text(HOSTILE_NAME)

            operation_id = await graph.play_prompt(call_id)
            operation = row.locator(f'li[data-operation-id="{operation_id}"]')
            await expect(operation).to_contain_text("playPromptOperation")
            await expect(operation.locator(".op-status")).to_have_text("running")
            await expect(operation.locator(".op-status")).to_have_text(
                "completed", timeout=5000
            )

            notification = page.locator("#notifications tbody tr", has_text=call_id)
            await expect(notification.first).to_contain_text("202")

            await graph.hang_up(call_id)
            await expect(state).to_have_text("terminating")
            await expect(state).to_have_text("terminated", timeout=5000)
            await expect(row).to_contain_text("200/5001")

            await page.screenshot(path=str(screenshot), full_page=True)
            loaded_once = await page.evaluate("window.loadedOnce === true")
            injected = await page.evaluate("window.injected === true")
            images = await page.locator("#calls img, #calls b").count()
        finally:
            await browser.close()

    assert loaded_once, "the page reloaded"
    assert not injected, "a display name ran as HTML"
    assert images == 0, "a display name became HTML elements"
    assert console_errors == []
    assert bot.received > 0
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 0
