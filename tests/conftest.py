"""Shared fixtures: a running emulator on loopback and a client wired to it."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from calls_async import CallsClient, PollingPolicy
from calls_async.testing import Emulator, EmulatorCredential
from calls_async.webhook import create_app

CALLBACK_URI = "http://127.0.0.1:9/callback"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(
        establish_delay=0.02, prompt_duration=0.05, record_duration=0.05
    ) as emu:
        yield emu


@pytest.fixture
async def credential(emulator: Emulator) -> AsyncIterator[EmulatorCredential]:
    async with emulator.credential() as cred:
        yield cred


@pytest.fixture
async def client(
    emulator: Emulator, credential: EmulatorCredential
) -> AsyncIterator[CallsClient]:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy(initial_delay=0.02, max_delay=0.1),
        operation_timeout=10.0,
        timeout=10.0,
    ) as c:
        yield c


@attrs.define
class Bot:
    client: CallsClient
    emulator: Emulator
    url: str
    session: aiohttp.ClientSession

    async def post(
        self,
        body: Any,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """Post a notification body to the webhook as the service would."""
        token = token if token is not None else self.emulator.sign_notification_token()
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = io.BytesIO(data)
        async with self.session.post(self.url, data=payload, headers=headers) as reply:
            await reply.read()
            return reply.status


@pytest.fixture
async def bot(emulator: Emulator, credential: EmulatorCredential) -> AsyncIterator[Bot]:
    client = CallsClient(
        credential,
        callback_uri="http://127.0.0.1:1/calls",
        base_url=emulator.base_url,
        operation_timeout=10,
        timeout=10,
    )
    app = create_app(
        client,
        app_id=emulator.app_id,
        openid_configuration_url=emulator.openid_configuration_url,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client.callback_uri = f"http://127.0.0.1:{port}/calls"
    async with aiohttp.ClientSession() as session:
        yield Bot(client, emulator, client.callback_uri, session)
    await runner.cleanup()
    await client.aclose()
