"""The bus interface with the in-process default, and the takeover hooks it uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calls_async import (
    Call,
    CallsClient,
    CallState,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    ServiceHostedMediaConfig,
)
from calls_async._notifications import NotificationEntry
from calls_async.bus import InProcessBus, NotificationBus, PublishError
from calls_async.testing import Emulator, EmulatorCredential
from calls_async.webhook import create_app


class RecordingBus(InProcessBus):
    """The in-process bus, recording what passes through it."""

    def __init__(self, *, failures: int = 0) -> None:
        super().__init__()
        self.published: list[tuple[list[NotificationEntry], str | None]] = []
        self.claimed: list[Call] = []
        self.stops = 0
        self.failures = failures

    async def publish(
        self, entries: Sequence[NotificationEntry], *, tenant_id: str | None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise PublishError("the test bus is down")
        self.published.append((list(entries), tenant_id))
        await super().publish(entries, tenant_id=tenant_id)

    async def claim(self, call: Call) -> None:
        self.claimed.append(call)

    async def stop(self) -> None:
        self.stops += 1
        await super().stop()


def _client(
    emulator: Emulator, credential: EmulatorCredential, **options: Any
) -> CallsClient:
    return CallsClient(
        credential,
        callback_uri="http://127.0.0.1:9/calls",
        base_url=emulator.base_url,
        timeout=10,
        operation_timeout=10,
        **options,
    )


def _user() -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id="u-1")))


@pytest.fixture
async def served(
    emulator: Emulator, credential: EmulatorCredential
) -> AsyncIterator[tuple[CallsClient, RecordingBus, str]]:
    """A client on a RecordingBus whose webhook runs on loopback."""
    bus = RecordingBus()
    client = _client(emulator, credential, bus=bus)
    app = create_app(
        client,
        app_id=emulator.app_id,
        openid_configuration_url=emulator.openid_configuration_url,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    client.callback_uri = f"http://127.0.0.1:{runner.addresses[0][1]}/calls"
    yield client, bus, client.callback_uri
    await runner.cleanup()
    await client.aclose()
    await bus.aclose()


async def _post(emulator: Emulator, url: str, *entries: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {emulator.sign_notification_token()}"}
    body = {"@odata.type": "#microsoft.graph.commsNotifications", "value": entries}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as reply:
            return reply.status


def _state_entry(call_id: str, state: str) -> dict[str, Any]:
    return {
        "changeType": "updated",
        "resourceUrl": f"/communications/calls/{call_id}",
        "resourceData": {"@odata.type": "#microsoft.graph.call", "state": state},
    }


# -- the default ---------------------------------------------------------------


async def test_default_bus_is_in_process(client: CallsClient) -> None:
    assert isinstance(client.bus, InProcessBus)
    assert client.bus.client is None


async def test_bus_starts_on_first_request(client: CallsClient) -> None:
    await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    assert client.bus.client is client


async def test_default_bus_closes_with_client(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    client = _client(emulator, credential)
    bus = client.bus
    assert isinstance(bus, InProcessBus)
    await client.aclose()
    assert bus.closed


async def test_stopped_bus_rejects_publish(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    bus = InProcessBus()
    client = _client(emulator, credential, bus=bus)
    await client._start_bus()
    await client.aclose()
    with pytest.raises(PublishError):
        await bus.publish([], tenant_id=None)


# -- a bus passed in -------------------------------------------------------------


async def test_caller_bus_stopped_not_closed(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    bus = RecordingBus()
    client = _client(emulator, credential, bus=bus)
    await client._start_bus()
    await client.aclose()
    assert bus.stops == 1
    assert not bus.closed
    await bus.aclose()
    assert bus.closed


async def test_bus_serves_one_client(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    bus = InProcessBus()
    first = _client(emulator, credential, bus=bus)
    second = _client(emulator, credential, bus=bus)
    await first._start_bus()
    with pytest.raises(ValueError, match="bus of its own"):
        await second._start_bus()
    await second.aclose()
    await first.aclose()


async def test_bus_argument_must_be_bus(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    with pytest.raises(TypeError, match="NotificationBus"):
        _client(emulator, credential, bus=object())


async def test_bus_is_abstract() -> None:
    with pytest.raises(TypeError):
        NotificationBus()  # type: ignore[abstract]


# -- the webhook publishes through the bus ----------------------------------------


async def test_webhook_publishes_through_bus(
    served: tuple[CallsClient, RecordingBus, str], emulator: Emulator
) -> None:
    client, bus, url = served
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    before = len(bus.published)
    assert await _post(emulator, url, _state_entry(call.id, "hold")) == 202
    await call.wait_for_state(CallState.HOLD, timeout=5)
    entries, tenant_id = bus.published[before]
    assert [e.call_id for e in entries] == [call.id]
    assert tenant_id == emulator.tenant_id


async def test_bus_failure_answers_503(
    served: tuple[CallsClient, RecordingBus, str], emulator: Emulator
) -> None:
    client, bus, url = served
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    bus.failures = 1
    assert await _post(emulator, url, _state_entry(call.id, "hold")) == 503
    assert call.state == CallState.ESTABLISHED
    assert await _post(emulator, url, _state_entry(call.id, "hold")) == 202
    await call.wait_for_state(CallState.HOLD, timeout=5)


async def test_created_call_is_claimed(
    served: tuple[CallsClient, RecordingBus, str],
) -> None:
    client, bus, _ = served
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    assert bus.claimed == [call]


async def test_get_does_not_claim(
    served: tuple[CallsClient, RecordingBus, str],
) -> None:
    client, bus, _ = served
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await client.calls.get(call.id)
    assert bus.claimed == [call]


# -- takeover hooks of the dispatcher ---------------------------------------------


async def test_takeover_handler_runs(client: CallsClient) -> None:
    seen: list[Call] = []

    @client.on_call_taken_over
    async def on_taken_over(call: Call) -> None:
        seen.append(call)

    call = client.calls["taken-1"]
    call._move_to(CallState.ESTABLISHED)
    client.notifications.start_takeover_handler(call)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [call]


async def test_incoming_takeover_goes_to_incoming_handler(
    client: CallsClient,
) -> None:
    seen: list[Call] = []

    @client.on_incoming_call
    async def on_incoming(call: Call) -> None:
        seen.append(call)

    call = client.calls["taken-2"]
    call._move_to(CallState.INCOMING)
    client.notifications.start_takeover_handler(call)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [call]


async def test_takeover_without_handler_warns(
    client: CallsClient, caplog: pytest.LogCaptureFixture
) -> None:
    call = client.calls["taken-3"]
    call._move_to(CallState.ESTABLISHED)
    with caplog.at_level(logging.WARNING, "calls_async.notifications"):
        client.notifications.start_takeover_handler(call)
    assert any("taken-3" in r.getMessage() for r in caplog.records)


async def test_takeover_handler_must_be_callable(client: CallsClient) -> None:
    with pytest.raises(TypeError, match="async function"):
        client.on_call_taken_over(42)  # type: ignore[arg-type]


async def test_cancel_handlers_of_one_call(client: CallsClient) -> None:
    cancelled: list[str] = []

    @client.on_call_taken_over
    async def on_taken_over(call: Call) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(call.id)
            raise

    first, second = client.calls["held-1"], client.calls["held-2"]
    for call in (first, second):
        call._move_to(CallState.ESTABLISHED)
        client.notifications.start_takeover_handler(call)
    await asyncio.sleep(0)
    assert client.notifications.cancel_handlers(first) == 1
    await asyncio.sleep(0)
    assert cancelled == ["held-1"]
    assert client.notifications.cancel_handlers(first) == 0
