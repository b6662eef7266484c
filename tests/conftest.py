"""Shared fixtures: a running emulator on loopback and a client wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from calls_async import CallsClient, PollingPolicy
from calls_async.testing import Emulator, EmulatorCredential

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
