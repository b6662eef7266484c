"""The client against the emulator over loopback: every call action and its errors."""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import fractions
import gc
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from calls_async import (
    AppHostedMediaConfig,
    AuthenticationError,
    Call,
    CallsClient,
    CallState,
    CallTerminated,
    ClientClosedError,
    HTTPStatusError,
    Identity,
    IdentitySet,
    IncomingCallOptions,
    InvitationParticipantInfo,
    MediaPrompt,
    NotFoundError,
    Operation,
    OperationFailed,
    OperationStatus,
    OperationTimeout,
    ParticipantInfo,
    PlayPromptOperation,
    PollingPolicy,
    RecordingStatus,
    RecordOperation,
    RejectReason,
    ScreenSharingRole,
    SendDtmfTonesOperation,
    ServiceHostedMediaConfig,
    TeleconferenceDeviceQuality,
    Tone,
    UnauthorizedError,
)
from calls_async.testing import Emulator, EmulatorCredential
from tests.conftest import CALLBACK_URI

PROMPT = "https://media.example.com/menu.wav"


def _user(user_id: str = "u-1") -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id=user_id)))


async def _established(client: CallsClient) -> Call:
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    return call


async def _incoming(emulator: Emulator, client: CallsClient) -> Call:
    call_id = await emulator.ring(CALLBACK_URI)
    return client.calls[call_id]


def _last_request(emulator: Emulator, suffix: str) -> Any:
    matching = [r for r in emulator.requests if r.path.endswith(suffix)]
    assert matching, f"the emulator received no request ending in {suffix}"
    return matching[-1]


# -- create, get, references --------------------------------------------------


async def test_create_returns_establishing_call(client: CallsClient) -> None:
    call = await client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    assert call.id
    assert call.state == CallState.ESTABLISHING
    assert call.properties is not None
    assert call.properties.direction == "outgoing"


async def test_create_then_wait_for_established(client: CallsClient) -> None:
    call = await _established(client)
    assert call.state == CallState.ESTABLISHED


async def test_get_fetches_state(client: CallsClient, emulator: Emulator) -> None:
    created = await _established(client)
    fetched = await client.calls.get(created.id)
    assert fetched is created
    assert emulator.call_state(created.id) == "established"
    assert fetched.state == CallState.ESTABLISHED


async def test_reference_sends_no_request(
    client: CallsClient, emulator: Emulator
) -> None:
    before = len(emulator.requests)
    call = client.calls["57DAB8B1894C409AB240BD8BEAE78896"]
    assert call.id == "57DAB8B1894C409AB240BD8BEAE78896"
    assert len(emulator.requests) == before


async def test_reference_is_same_object_without_case(client: CallsClient) -> None:
    upper = client.calls["57DAB8B1894C409AB240BD8BEAE78896"]
    lower = client.calls["57dab8b1894c409ab240bd8beae78896"]
    assert upper is lower


async def test_get_unknown_call_raises_not_found(client: CallsClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.calls.get(str(uuid.uuid4()))
    err = info.value
    assert err.status == 404
    assert err.request_id
    assert err.client_request_id
    assert err.request_id in str(err)
    assert err.body


async def test_create_app_hosted_media(client: CallsClient, emulator: Emulator) -> None:
    call = await client.calls.create(
        targets=[_user()], media_config=AppHostedMediaConfig(blob="<media-config>")
    )
    body = _last_request(emulator, "/communications/calls").body
    assert body["mediaConfig"] == {
        "@odata.type": "#microsoft.graph.appHostedMediaConfig",
        "blob": "<media-config>",
    }
    assert call.state == CallState.ESTABLISHING


async def test_group_call_with_three_targets(client: CallsClient) -> None:
    call = await client.calls.create(
        targets=[_user("u-1"), _user("u-2"), _user("u-3")],
        media_config=ServiceHostedMediaConfig(),
    )
    assert call.state == CallState.ESTABLISHING


# -- incoming call actions ----------------------------------------------------


async def test_answer_incoming_call(client: CallsClient, emulator: Emulator) -> None:
    call = await _incoming(emulator, client)
    await call.answer(
        media_config=ServiceHostedMediaConfig(),
        call_options=IncomingCallOptions(is_content_sharing_notification_enabled=True),
    )
    body = _last_request(emulator, "/answer").body
    assert body["callbackUri"] == CALLBACK_URI
    assert body["acceptedModalities"] == ["audio"]
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)


async def test_reject_incoming_call(client: CallsClient, emulator: Emulator) -> None:
    call = await _incoming(emulator, client)
    await call.reject(reason=RejectReason.BUSY)
    assert _last_request(emulator, "/reject").body == {"reason": "busy"}
    assert emulator.call_state(call.id) in (None, "terminated")


async def test_redirect_incoming_call(client: CallsClient, emulator: Emulator) -> None:
    call = await _incoming(emulator, client)
    await call.redirect([_user("u-2"), _user("u-3")], timeout_seconds=30)
    body = _last_request(emulator, "/redirect").body
    assert len(body["targets"]) == 2
    assert body["timeout"] == 30


async def test_answer_twice_is_rejected(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _incoming(emulator, client)
    await call.answer(media_config=ServiceHostedMediaConfig())
    with pytest.raises(HTTPStatusError) as info:
        await call.answer(media_config=ServiceHostedMediaConfig())
    assert info.value.status in (400, 409)


# -- in-call actions without an operation -------------------------------------


async def test_keep_alive(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    await call.keep_alive()
    assert _last_request(emulator, "/keepAlive").status == 200


async def _gone(emulator: Emulator, call_id: str) -> None:
    async with asyncio.timeout(5):
        while emulator.call_state(call_id) not in (None, "terminated"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_keep_alive_after_hang_up(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    await call.hang_up()
    await _gone(emulator, call.id)
    with pytest.raises(NotFoundError):
        await call.keep_alive()


async def test_transfer(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    target = InvitationParticipantInfo(
        identity=IdentitySet(user=Identity(id="u-9")), replaces_call_id="other-call"
    )
    await call.transfer(
        target,
        transferee=ParticipantInfo(identity=IdentitySet(user=Identity(id="u-1"))),
    )
    body = _last_request(emulator, "/transfer").body
    assert body["transferTarget"]["replacesCallId"] == "other-call"
    assert body["transferee"]["identity"]["user"]["id"] == "u-1"


async def test_change_screen_sharing_role(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    await call.change_screen_sharing_role(ScreenSharingRole.SHARER)
    request = _last_request(emulator, "/changeScreenSharingRole")
    assert request.status == 202
    assert request.body == {"role": "sharer"}


async def test_hang_up_ends_call(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    await call.hang_up()
    assert call.ended
    assert call.state == CallState.TERMINATED
    assert call.properties is not None
    assert call.properties.state == CallState.TERMINATED
    assert call.id not in client.calls
    await _gone(emulator, call.id)
    with pytest.raises(NotFoundError):
        await call.refresh()


async def test_log_teleconference_device_quality(
    client: CallsClient, emulator: Emulator
) -> None:
    quality = TeleconferenceDeviceQuality(
        call_chain_id=str(uuid.uuid4()),
        participant_id=str(uuid.uuid4()),
        media_leg_id=str(uuid.uuid4()),
        device_name="Room 1",
        device_description="Conference room device",
        media_quality_list=[],
    )
    await client.calls.log_teleconference_device_quality(quality)
    request = _last_request(emulator, "/logTeleconferenceDeviceQuality")
    assert request.status == 200
    assert request.body["quality"]["deviceName"] == "Room 1"


# -- actions returning operations ---------------------------------------------


async def test_mute_is_completed_at_once(client: CallsClient) -> None:
    call = await _established(client)
    op = await call.mute()
    assert op.done()
    assert op.completed_by == "response"
    final = await op
    assert final.status.lower() == "completed"


async def test_unmute_is_completed_at_once(client: CallsClient) -> None:
    call = await _established(client)
    op = await call.unmute(client_context="ctx-unmute")
    assert op.done()
    assert op.client_context == "ctx-unmute"
    assert (await op).client_context == "ctx-unmute"


async def test_play_prompt_completes(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    op = await call.play_prompt([MediaPrompt.from_uri(PROMPT)])
    assert not op.done()
    assert op.status.lower() == "running"
    final = await op
    assert isinstance(final, PlayPromptOperation)
    assert final.status.lower() == "completed"
    assert final.result_info is not None
    assert final.result_info.code == 200
    assert op.completed_by == "polling"
    assert emulator.operation_resource(call.id, op.id or "")["status"] == "completed"


async def test_play_prompt_accepts_uri_strings(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    op = await call.play_prompt([PROMPT])
    body = _last_request(emulator, "/playPrompt").body
    assert body["prompts"][0]["mediaInfo"]["uri"] == PROMPT
    assert body["prompts"][0]["@odata.type"] == "#microsoft.graph.mediaPrompt"
    await op


async def test_generated_client_context_is_sent(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    op = await call.play_prompt([PROMPT])
    sent = _last_request(emulator, "/playPrompt").body["clientContext"]
    assert sent == op.client_context
    assert uuid.UUID(sent)
    await op


async def test_record_response_gives_recording(client: CallsClient) -> None:
    call = await _established(client)
    op = await call.record_response(
        prompts=[PROMPT], max_record_duration=10, stop_tones=["#"], play_beep=True
    )
    final = await op
    assert isinstance(final, RecordOperation)
    assert final.recording_location
    assert final.recording_access_token
    audio = await call.download_recording(final)
    assert audio.startswith(b"RIFF")


async def test_recording_token_not_in_repr(client: CallsClient) -> None:
    call = await _established(client)
    final = await (await call.record_response())
    assert final.recording_access_token
    assert final.recording_access_token not in repr(final)


async def test_cancel_fails_running_prompts(client: CallsClient) -> None:
    call = await _established(client)
    first = await call.play_prompt([PROMPT] * 5)
    queued = await call.play_prompt([PROMPT])
    cancel = await call.cancel_media_processing()
    assert cancel.done()
    for op in (first, queued):
        with pytest.raises(OperationFailed) as info:
            await op
        assert info.value.code == 400
        assert info.value.subcode == 8508


async def test_subscribe_to_tone(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    op = await call.subscribe_to_tone()
    assert op.done()
    assert _last_request(emulator, "/subscribeToTone").status == 200


async def test_send_dtmf_tones(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    op = await call.send_dtmf_tones(
        [Tone.TONE1, "star", Tone.POUND], delay_between_tones_ms=100
    )
    body = _last_request(emulator, "/sendDtmfTones").body
    assert body["tones"] == ["tone1", "star", "pound"]
    assert body["delayBetweenTonesMs"] == 100
    final = await op
    assert isinstance(final, SendDtmfTonesOperation)
    assert str(final.completion_reason).lower() == "completedsuccessfully"


async def test_update_recording_status(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    op = await call.update_recording_status(RecordingStatus.RECORDING)
    assert op.done()
    assert (
        _last_request(emulator, "/updateRecordingStatus").body["status"] == "recording"
    )


async def test_add_large_gallery_view(client: CallsClient, emulator: Emulator) -> None:
    call = await _established(client)
    op = await call.add_large_gallery_view()
    assert _last_request(emulator, "/addLargeGalleryView").status == 202
    final = await op
    assert final.status.lower() == "completed"


async def test_actions_use_unqualified_paths(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    await call.keep_alive()
    await (await call.subscribe_to_tone())
    await (await call.play_prompt([PROMPT]))
    assert not [r.path for r in emulator.requests if "microsoft.graph." in r.path]


# -- operation handles --------------------------------------------------------


async def test_operation_timeout_keeps_handle_pending(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy.off(),
    ) as client:
        call = await _established(client)
        op = await call.play_prompt([PROMPT] * 10)
        with pytest.raises(OperationTimeout):
            await op.wait(timeout=0.05)
        assert not op.done()
        await call.cancel_media_processing()
        await call.hang_up()
        with pytest.raises(CallTerminated):
            await op


async def test_shorter_wait_times_out_first(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy.off(),
    ) as client:
        call = await _established(client)
        op = await call.play_prompt([PROMPT] * 10)
        # The second wait has the earlier deadline, so the queue's timer must move.
        long_wait = asyncio.create_task(op.wait(timeout=30))
        await asyncio.sleep(0)
        with pytest.raises(OperationTimeout):
            await op.wait(timeout=0.05)
        assert not long_wait.done()
        update = PlayPromptOperation(
            id=op.id, status=OperationStatus.COMPLETED, client_context="c"
        )
        assert client.operations.resolve(call.id, update, source="notification")
        final = await asyncio.wait_for(long_wait, 1)
        assert final.status == OperationStatus.COMPLETED
        await call.hang_up()


@contextlib.asynccontextmanager
async def _pending_prompt(
    emulator: Emulator, credential: EmulatorCredential, polling: PollingPolicy
) -> AsyncIterator[tuple[CallsClient, Call, Operation[PlayPromptOperation]]]:
    """Yield a client, an established call and a playPrompt on it that stays
    pending for the test (ten prompts)."""
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=polling,
    ) as client:
        call = await _established(client)
        yield client, call, await call.play_prompt([PROMPT] * 10)


def _complete(client: CallsClient, call: Call, op: Operation[Any]) -> bool:
    """Apply a completed status for ``op``, as its notification would."""
    update = PlayPromptOperation(
        id=op.id, status=OperationStatus.COMPLETED, client_context="c"
    )
    return client.operations.resolve(call.id, update, source="notification")


def _operation_gets(emulator: Emulator, op: Operation[Any]) -> list[str]:
    assert op.id is not None
    return [
        r.path
        for r in emulator.requests
        if r.method == "GET" and r.path.lower().endswith(op.id.lower())
    ]


async def test_polling_starts_after_grace(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy(grace=0.3, initial_delay=0.02, max_delay=0.05),
    ) as client:
        call = await _established(client)
        op = await call.play_prompt([PROMPT])
        waiting = asyncio.create_task(op.wait(timeout=5))
        await asyncio.sleep(0.15)
        # The emulator has finished the prompt, but nothing asked it yet.
        assert client.operations.pollers == 1
        assert _operation_gets(emulator, op) == []
        assert not op.done()
        final = await waiting
        assert final.status == OperationStatus.COMPLETED
        assert op.completed_by == "polling"
        assert _operation_gets(emulator, op) != []
        assert client.operations.pollers == 0
        await call.hang_up()


async def test_handle_done_in_grace_is_not_polled(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy(grace=0.1, initial_delay=0.02),
    ) as client:
        call = await _established(client)
        op = await call.play_prompt([PROMPT] * 10)
        waiting = asyncio.create_task(op.wait(timeout=5))
        await asyncio.sleep(0)
        assert client.operations.pollers == 1
        update = PlayPromptOperation(
            id=op.id, status=OperationStatus.COMPLETED, client_context="c"
        )
        assert client.operations.resolve(call.id, update, source="notification")
        await waiting
        assert client.operations.pollers == 0
        # Past the grace period: the handle's deadline came and was skipped.
        await asyncio.sleep(0.25)
        assert _operation_gets(emulator, op) == []
        await call.hang_up()


async def test_ended_handles_are_released(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy(grace=30.0),
    ) as client:
        call = await _established(client)
        ops = [await call.play_prompt([PROMPT] * 10) for _ in range(3)]
        waits = [asyncio.create_task(op.wait(timeout=60)) for op in ops]
        await asyncio.sleep(0)
        assert client.operations.pollers == 3
        released = [weakref.ref(op) for op in ops]
        await call.hang_up()
        # Gathered, so that no exception passes through this frame and keeps it.
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [CallTerminated] * 3
        del ops, waits, outcomes
        # The step that resumed from gather keeps its result until the step ends.
        await asyncio.sleep(0)
        gc.collect()
        # Their grace periods (30 s) and timeouts (60 s) have not run out, so only
        # the queues' sweeps can have let them go.
        assert [ref() for ref in released] == [None, None, None]
        assert client.operations.pollers == 0


async def test_done_handle_leaves_grace_heap(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    # One handle stays in its grace period the whole test, so the queue is never
    # empty and never all cancelled.
    policy = PollingPolicy(grace=30.0)
    async with _pending_prompt(emulator, credential, policy) as (
        client,
        call,
        in_grace,
    ):
        grace_wait = asyncio.create_task(in_grace.wait(timeout=60))
        released = []
        for _ in range(40):
            op = await call.play_prompt([PROMPT] * 10)
            wait = asyncio.create_task(op.wait(timeout=60))
            await asyncio.sleep(0)
            assert _complete(client, call, op)
            await wait
            released.append(weakref.ref(op))
            del op, wait
        await asyncio.sleep(0)
        gc.collect()
        assert [ref() for ref in released] == [None] * 40
        assert client.operations.pollers == 1
        assert not grace_wait.done()
        await call.hang_up()
        with pytest.raises(CallTerminated):
            await grace_wait


async def test_wait_timeout_nan_is_rejected(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        client,
        call,
        op,
    ):
        with pytest.raises(ValueError, match="timeout is NaN"):
            await op.wait(timeout=float("nan"))
        with pytest.raises(TypeError, match="timeout is '5'"):
            await op.wait(timeout="5")  # type: ignore[arg-type]
        assert op._waiters in (None, [])
        default = client.operations.timeout
        with pytest.raises(ValueError, match="operation_timeout is NaN"):
            client.operations.timeout = float("nan")
        assert client.operations.timeout == default
        # A rejected wait leaves nothing behind that could hold up later timeouts.
        with pytest.raises(OperationTimeout):
            await asyncio.wait_for(op.wait(timeout=0.05), 1)
        await call.hang_up()


@pytest.mark.parametrize("value", [float("nan"), "30", True])
async def test_operation_timeout_invalid_is_rejected(
    emulator: Emulator, credential: EmulatorCredential, value: Any
) -> None:
    with pytest.raises((TypeError, ValueError), match="operation_timeout is"):
        CallsClient(
            credential,
            callback_uri=CALLBACK_URI,
            base_url=emulator.base_url,
            operation_timeout=value,
        )


@pytest.mark.parametrize(
    "value", [fractions.Fraction(1, 20), decimal.Decimal("0.05"), 0]
)
async def test_wait_timeout_takes_any_real_number(
    emulator: Emulator, credential: EmulatorCredential, value: Any
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        _client,
        call,
        op,
    ):
        with pytest.raises(OperationTimeout):
            await asyncio.wait_for(op.wait(timeout=value), 1)
        await call.hang_up()


async def test_wait_timeout_too_large_is_rejected(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        client,
        call,
        op,
    ):
        with pytest.raises(ValueError, match="too large for a float"):
            await op.wait(timeout=10**400)
        with pytest.raises(ValueError, match="too large for a float"):
            client.operations.timeout = 10**400
        assert op._waiters in (None, [])
        assert len(client.operations._wait_deadlines) == 0
        await call.hang_up()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("grace", float("nan"), ValueError),
        ("grace", 10**400, ValueError),
        ("initial_delay", "1", TypeError),
        ("max_delay", -1, ValueError),
        ("initial_delay", 0, ValueError),
        ("max_delay", 0, ValueError),
        ("multiplier", float("nan"), ValueError),
        ("multiplier", 0.5, ValueError),
        ("multiplier", "2", TypeError),
        ("enabled", "no", TypeError),
        ("grace", decimal.Decimal("sNaN"), ValueError),
    ],
)
def test_polling_policy_rejects_invalid_value(
    field: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=f"PollingPolicy.{field} is"):
        PollingPolicy(**{field: value})


def test_polling_policy_messages_fit_the_field() -> None:
    with pytest.raises(TypeError, match="give a factor as an int or a float"):
        PollingPolicy(multiplier="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give more than 0 seconds"):
        PollingPolicy(initial_delay=0)


def test_polling_policy_stores_floats() -> None:
    policy = PollingPolicy(
        grace=decimal.Decimal("0.5"), multiplier=fractions.Fraction(3)
    )
    assert type(policy.grace) is float
    assert policy.grace == 0.5
    assert type(policy.multiplier) is float
    assert policy.multiplier == 3.0


async def test_max_delay_caps_first_poll_delay(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    policy = PollingPolicy(initial_delay=5.0, max_delay=0.05)
    async with _pending_prompt(emulator, credential, policy) as (_client, call, op):
        waiting = asyncio.create_task(op.wait(timeout=5))
        await asyncio.sleep(0.4)
        # The prompt is still playing, so each GET finds it running. With the first
        # delay capped at 0.05 s, several GETs fit in 0.4 s; with 5 s, only one.
        assert len(_operation_gets(emulator, op)) >= 3
        await call.hang_up()
        with pytest.raises(CallTerminated):
            await waiting


@pytest.mark.parametrize("value", [-1, -0.5, float("-inf")])
async def test_negative_operation_timeout_is_rejected(
    emulator: Emulator, credential: EmulatorCredential, value: float
) -> None:
    with pytest.raises(ValueError, match="operation_timeout is"):
        CallsClient(
            credential,
            callback_uri=CALLBACK_URI,
            base_url=emulator.base_url,
            operation_timeout=value,
        )


async def test_timeout_message_names_both_settings(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        _client,
        call,
        op,
    ):
        with pytest.raises(OperationTimeout) as raised:
            await op.wait(timeout=0.01)
        message = str(raised.value)
        assert "within 0.01 s" in message
        assert "give a longer timeout" in message
        assert "operation_timeout is the default" in message
        await call.hang_up()


async def test_completion_in_timeout_turn_wins(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        client,
        call,
        op,
    ):
        waiting = asyncio.create_task(op.wait(timeout=60))
        await asyncio.sleep(0)
        assert op._waiters is not None
        # What the timeout's timer does, followed in the same loop turn by the
        # completion, before the waiting task has run.
        op._waiters[0].set_result(False)
        assert _complete(client, call, op)
        final = await waiting
        assert final.status == OperationStatus.COMPLETED
        await call.hang_up()


async def test_registry_close_stops_every_poller(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    policy = PollingPolicy(grace=30.0)
    async with _pending_prompt(emulator, credential, policy) as (
        client,
        call,
        in_grace,
    ):
        grace_wait = asyncio.create_task(in_grace.wait(timeout=60))
        await asyncio.sleep(0)
        client.operations.polling = PollingPolicy(grace=0, initial_delay=1.0)
        polled = await call.play_prompt([PROMPT] * 10)
        # The wait starts the polling task, which has not run a step yet.
        wait = polled.wait(timeout=60)
        wait.send(None)
        assert client.operations.pollers == 2
        await client.operations.aclose()
        assert client.operations.pollers == 0
        wait.close()
        grace_wait.cancel()
        await asyncio.gather(grace_wait, return_exceptions=True)
        assert client.operations.pollers == 0
        await call.hang_up()
        assert client.operations.pollers == 0


async def test_closed_wait_leaves_no_deadline(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(emulator, credential, PollingPolicy.off()) as (
        client,
        call,
        op,
    ):
        deadlines = client.operations._wait_deadlines
        for index in range(1_000):
            wait = op.wait(timeout=3600)
            waiter = wait.send(None)
            if index % 2:
                wait.close()
            else:
                with pytest.raises(RuntimeError):
                    wait.throw(RuntimeError("thrown into the wait"))
            assert waiter.cancelled()
        assert len(deadlines) == 0
        assert op._waiters in (None, [])
        await call.hang_up()


async def test_pollers_drop_after_polling_stops(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with _pending_prompt(
        emulator, credential, PollingPolicy(initial_delay=0.02)
    ) as (
        client,
        call,
        op,
    ):
        assert op.id is not None
        not_found = emulator.faults.add(
            "status", path=f"*/operations/{op.id}", method="GET", status=404
        )
        waiting = asyncio.create_task(op.wait(timeout=5))
        await asyncio.sleep(0)
        assert client.operations.pollers == 1
        # The GET returns 404, and polling that handle stops for good.
        async with asyncio.timeout(5):
            while client.operations.pollers:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert not_found.applied == 1
        assert not waiting.done()
        await asyncio.sleep(0.1)
        assert not_found.applied == 1
        await call.hang_up()
        with pytest.raises(CallTerminated):
            await waiting
        assert client.operations.pollers == 0


async def test_several_pending_operations_on_one_call(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy.off(),
    ) as client:
        call = await _established(client)
        ops = [await call.play_prompt([PROMPT] * 10) for _ in range(3)]
        assert len(client.operations) == 3
        # A report without an operation id is matched by clientContext among the
        # call's handles.
        middle = ops[1]
        update = PlayPromptOperation(
            status=OperationStatus.COMPLETED, client_context=middle.client_context
        )
        assert client.operations.resolve(call.id, update, source="notification")
        assert (await middle).status == OperationStatus.COMPLETED
        assert [op.done() for op in ops] == [False, True, False]
        assert len(client.operations) == 2
        # The same clientContext on another call's id matches nothing.
        assert not client.operations.resolve(
            "another-call", update, source="notification"
        )
        await call.hang_up()
        for op in (ops[0], ops[2]):
            with pytest.raises(CallTerminated):
                await op
        assert len(client.operations) == 0
        assert client.operations._by_call == {}
        assert client.operations._by_id == {}


async def test_ended_calls_are_released_after_recent_ttl(client: CallsClient) -> None:
    client.calls.recent_ttl = 0.05
    call = await _established(client)
    await call.hang_up()
    # Kept a moment for late notifications, under the same object.
    assert client.calls._known(call.id) is call
    # No other call ends after it, and it is still released once its time is up.
    await asyncio.sleep(0.15)
    assert client.calls._known(call.id) is None
    assert len(client.calls._recent) == 0
    assert client.calls._expiry_timer is None


async def test_call_key_reuses_a_lower_case_id(client: CallsClient) -> None:
    lower = "".join(["abc-", "123"])
    call = client.calls[lower]
    assert call.key is lower
    upper = client.calls["ABC-" + "456"]
    assert upper.key == "abc-456"
    assert client.calls["abc-456"] is upper


async def test_hang_up_fails_pending_operations(client: CallsClient) -> None:
    call = await _established(client)
    op = await call.play_prompt([PROMPT] * 10)
    await call.hang_up()
    assert op.done()
    with pytest.raises(CallTerminated) as info:
        await op
    assert info.value.call_id == call.id


async def test_not_found_fails_pending_operations(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    op = await call.play_prompt([PROMPT] * 10)
    await emulator.hang_up_remote(call.id)
    with pytest.raises(NotFoundError):
        await call.keep_alive()
    with pytest.raises(CallTerminated):
        await op.wait(timeout=1)


async def test_operation_on_ended_call_raises_at_once(client: CallsClient) -> None:
    call = await _established(client)
    op = await call.play_prompt([PROMPT] * 10)
    await call.hang_up()
    with pytest.raises(CallTerminated):
        await asyncio.wait_for(op.wait(timeout=None), 0.5)


# -- input checks: nothing is sent ----------------------------------------------


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda c: c.play_prompt([]), "prompts"),
        (lambda c: c.play_prompt([PROMPT] * 21), "20"),
        (lambda c: c.play_prompt(["http://media.example.com/a.wav"]), "https"),
        (lambda c: c.record_response(max_record_duration=121), "120"),
        (lambda c: c.mute(client_context="x" * 257), "256"),
        (lambda c: c.redirect([]), "targets"),
        (lambda c: c.redirect([_user()], timeout_seconds=5), "15"),
        (lambda c: c.send_dtmf_tones(["tone42"]), "tone42"),
        (lambda c: c.reject(reason="later"), "later"),
    ],
)
async def test_invalid_input_sends_nothing(
    client: CallsClient, emulator: Emulator, action: Any, message: str
) -> None:
    call = client.calls["a1b2c3d4-0000-4000-8000-00000000c002"]
    before = len(emulator.requests)
    with pytest.raises((ValueError, TypeError)) as info:
        await action(call)
    assert message in str(info.value)
    assert len(emulator.requests) == before


async def test_create_without_media_config(client: CallsClient) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        await client.calls.create(targets=[_user()], media_config=None)  # type: ignore[arg-type]
    assert "media_config" in str(info.value)


# -- transport ----------------------------------------------------------------


async def test_client_request_id_on_every_request(
    client: CallsClient, emulator: Emulator
) -> None:
    call = await _established(client)
    await call.keep_alive()
    ids = [r.headers.get("client-request-id") for r in emulator.requests]
    assert ids
    assert all(ids)
    assert len(set(ids)) == len(ids)
    for value in ids:
        uuid.UUID(value)


async def test_token_fetched_once(emulator: Emulator) -> None:
    async with emulator.credential() as credential:
        async with CallsClient(
            credential, callback_uri=CALLBACK_URI, base_url=emulator.base_url
        ) as client:
            calls = await asyncio.gather(
                *(
                    client.calls.create(
                        targets=[_user()], media_config=ServiceHostedMediaConfig()
                    )
                    for _ in range(50)
                )
            )
            assert len(calls) == 50
        assert credential.token_requests == 1


async def test_caller_session_stays_open(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    async with aiohttp.ClientSession() as session:
        async with CallsClient(
            credential,
            callback_uri=CALLBACK_URI,
            base_url=emulator.base_url,
            session=session,
        ) as client:
            await client.calls.create(
                targets=[_user()], media_config=ServiceHostedMediaConfig()
            )
        assert not session.closed


async def test_closed_client_raises(client: CallsClient) -> None:
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.calls.create(
            targets=[_user()], media_config=ServiceHostedMediaConfig()
        )


async def test_aclose_fails_pending_operations(
    emulator: Emulator, credential: EmulatorCredential
) -> None:
    client = CallsClient(
        credential,
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
        polling=PollingPolicy.off(),
    )
    call = await _established(client)
    op = await call.play_prompt([PROMPT] * 10)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await op


@pytest.mark.parametrize(
    "url", ["http://graph.example.com/v1.0", "ftp://127.0.0.1/v1.0", "graph/v1.0"]
)
async def test_base_url_must_be_https(credential: EmulatorCredential, url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        CallsClient(credential, callback_uri=CALLBACK_URI, base_url=url)


async def test_callback_uri_must_be_https(credential: EmulatorCredential) -> None:
    with pytest.raises(ValueError, match="callback_uri"):
        CallsClient(credential, callback_uri="http://bot.example.com/calls")


class _FailingCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise RuntimeError("AADSTS7000215: Invalid client secret provided.")


async def test_credential_failure_is_authentication_error(emulator: Emulator) -> None:
    async with CallsClient(
        _FailingCredential(), callback_uri=CALLBACK_URI, base_url=emulator.base_url
    ) as client:
        with pytest.raises(AuthenticationError, match="AADSTS7000215"):
            await client.calls.get("any-call")


class _StaticCredential:
    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        class _Token:
            token = self.token
            expires_on = 4_000_000_000

        return _Token()


async def test_foreign_token_is_unauthorized(emulator: Emulator) -> None:
    async with CallsClient(
        _StaticCredential("not-a-token-the-emulator-issued"),
        callback_uri=CALLBACK_URI,
        base_url=emulator.base_url,
    ) as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.calls.get("any-call")
        assert info.value.status == 401
        assert "not-a-token-the-emulator-issued" not in str(info.value)
