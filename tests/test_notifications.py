"""Notifications end to end: the emulator posts signed callbacks to a real webhook."""

from __future__ import annotations

import asyncio
import decimal
import fractions
import gzip
import json
import logging
import uuid
from typing import Any

import pytest

from calls_async import (
    CallEnded,
    CallState,
    CallTerminated,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    OperationCompleted,
    OperationFailed,
    PlayPromptOperation,
    RejectReason,
    ServiceHostedMediaConfig,
    StateChanged,
    ToneReceived,
)
from calls_async._notifications import NotificationDispatcher
from tests.conftest import Bot

PROMPT = "https://media.example.com/menu.wav"


def _user(user_id: str = "u-1") -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id=user_id)))


def _envelope(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.commsNotifications",
        "value": list(entries),
    }


def _call_entry(
    call_id: str,
    change: str = "updated",
    url_form: str = "/communications/calls/{}",
    **data: Any,
) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": change,
        "resourceUrl": url_form.format(call_id),
        "resourceData": {"@odata.type": "#microsoft.graph.call", **data},
    }


async def _eventually(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _established(bot: Bot) -> Any:
    call = await bot.client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    return call


# -- outgoing calls follow notifications ----------------------------------------


async def test_state_follows_notifications(bot: Bot) -> None:
    call = await _established(bot)
    assert call.state == CallState.ESTABLISHED
    gets = [r for r in bot.emulator.requests if r.method == "GET"]
    assert gets == []


async def test_prompt_completes_by_notification(bot: Bot) -> None:
    call = await _established(bot)
    op = await call.play_prompt([PROMPT])
    final = await op
    assert isinstance(final, PlayPromptOperation)
    assert op.completed_by == "notification"
    assert bot.client.operations.completed_by["notification"] >= 1


async def test_cancel_fails_prompt_by_notification(bot: Bot) -> None:
    call = await _established(bot)
    prompt = await call.play_prompt([PROMPT] * 10)
    await call.cancel_media_processing()
    with pytest.raises(OperationFailed) as info:
        await prompt
    assert info.value.subcode == 8508
    assert prompt.completed_by == "notification"


async def test_record_completes_by_notification(bot: Bot) -> None:
    call = await _established(bot)
    op = await call.record_response(max_record_duration=5)
    final = await op
    assert final.recording_location
    assert op.completed_by == "notification"
    assert (await call.download_recording(final)).startswith(b"RIFF")


async def test_events_yield_state_and_operations(bot: Bot) -> None:
    call = await bot.client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    events = call.events()
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    op = await call.play_prompt([PROMPT])
    await op
    await call.hang_up()
    seen: list[Any] = []
    async with asyncio.timeout(5):
        async for event in events:
            seen.append(event)
    kinds = [type(e) for e in seen]
    assert StateChanged in kinds
    assert OperationCompleted in kinds
    assert kinds[-1] is CallEnded
    states = [e.state for e in seen if isinstance(e, StateChanged)]
    assert CallState.ESTABLISHED in states


async def test_remote_hang_up_fails_pending(bot: Bot) -> None:
    call = await _established(bot)
    prompt = await call.play_prompt([PROMPT] * 20)
    record = await call.record_response(max_record_duration=100)
    await bot.emulator.hang_up_remote(call.id)
    for op in (prompt, record):
        with pytest.raises(CallTerminated) as info:
            await op.wait(timeout=5)
        assert info.value.code == 200
        assert info.value.subcode == 4521
    assert call.ended
    assert call.result_info is not None
    assert call.result_info.subcode == 4521


# -- incoming calls ------------------------------------------------------------


async def test_incoming_call_answered(bot: Bot) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        seen.append((call.state, call.tenant_id, call.properties.direction))
        await call.answer(media_config=ServiceHostedMediaConfig())

    call_id = await bot.emulator.ring(bot.url)
    call = bot.client.calls[call_id]
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    assert seen == [(CallState.INCOMING, bot.emulator.tenant_id, "incoming")]


async def test_incoming_call_rejected_busy(bot: Bot) -> None:
    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        await call.reject(reason=RejectReason.BUSY)

    call_id = await bot.emulator.ring(bot.url)
    call = bot.client.calls[call_id]
    await _eventually(lambda: call.ended)
    assert _request_bodies(bot, "/reject") == [{"reason": "busy"}]


async def test_incoming_call_redirected(bot: Bot) -> None:
    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        await call.redirect([_user("u-7")])

    call = bot.client.calls[await bot.emulator.ring(bot.url)]
    await _eventually(lambda: call.ended)
    assert len(_request_bodies(bot, "/redirect")) == 1


async def test_unanswered_call_times_out(bot: Bot) -> None:
    handled = asyncio.Event()

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        handled.set()

    call = bot.client.calls[await bot.emulator.ring(bot.url, answer_timeout=0.2)]
    await asyncio.wait_for(handled.wait(), 5)
    await _eventually(lambda: call.ended)
    assert call.result_info is not None
    assert (call.result_info.code, call.result_info.subcode) == (408, 1106)


async def test_failing_handler_does_not_stop_others(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    answered: list[str] = []

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        if not answered:
            answered.append("boom")
            raise RuntimeError("handler bug")
        await call.answer(media_config=ServiceHostedMediaConfig())
        answered.append(call.id)

    with caplog.at_level(logging.ERROR, "calls_async.notifications"):
        first = await bot.emulator.ring(bot.url)
        second = await bot.emulator.ring(bot.url)
        await bot.client.calls[second].wait_for_state(CallState.ESTABLISHED, timeout=5)
    assert answered == ["boom", second]
    assert any(first in r.getMessage() for r in caplog.records)


async def test_slow_handler_does_not_hold_up_others(bot: Bot) -> None:
    release = asyncio.Event()
    slow: list[str] = []

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        if not slow:
            slow.append(call.id)
            await release.wait()
        await call.answer(media_config=ServiceHostedMediaConfig())

    first = bot.client.calls[await bot.emulator.ring(bot.url)]
    second = bot.client.calls[await bot.emulator.ring(bot.url)]
    await second.wait_for_state(CallState.ESTABLISHED, timeout=5)
    assert first.state == CallState.INCOMING
    release.set()
    await first.wait_for_state(CallState.ESTABLISHED, timeout=5)


# -- tones ---------------------------------------------------------------------


async def test_tones_arrive_as_events(bot: Bot) -> None:
    call = await _established(bot)
    await call.subscribe_to_tone()
    events = call.events()
    await bot.emulator.press_tones(call.id, ["tone1", "pound"])
    tones = []
    async with asyncio.timeout(5):
        async for event in events:
            if isinstance(event, ToneReceived):
                tones.append(event.tone)
                if len(tones) == 2:
                    break
    assert tones == ["tone1", "pound"]


async def test_repeated_tone_sequence_delivered_once(bot: Bot) -> None:
    call = await _established(bot)
    events = call.events()
    for state in ("established", "Established"):
        entry = _call_entry(
            call.id, state=state, toneInfo={"sequenceId": 7, "tone": "tone5"}
        )
        assert await bot.post(_envelope(entry)) == 202
    await call.hang_up()
    tones = [e async for e in events if isinstance(e, ToneReceived)]
    assert [(t.tone, t.sequence_id) for t in tones] == [("tone5", 7)]


# -- the webhook's replies -------------------------------------------------------


async def test_missing_token_gets_403(bot: Bot) -> None:
    assert await bot.post(_envelope(), token="") == 403


async def test_forged_token_gets_403(bot: Bot) -> None:
    token = bot.emulator.sign_notification_token(aud="someone-else")
    assert await bot.post(_envelope(), token=token) == 403


async def test_invalid_json_gets_400(bot: Bot) -> None:
    assert await bot.post(None, raw=b"{not json") == 400


async def test_wrong_shape_gets_400(bot: Bot) -> None:
    assert await bot.post({"value": "not-a-list"}) == 400
    assert await bot.post([1, 2]) == 400
    assert await bot.post({"value": [{"changeType": "updated"}]}) == 400


async def test_large_body_gets_413(bot: Bot) -> None:
    big = b'{"value": [' + b" " * (1024 * 1024) + b"]}"
    assert await bot.post(None, raw=big) == 413


async def test_deep_nesting_gets_400(bot: Bot) -> None:
    deep = b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert await bot.post(None, raw=deep) == 400


async def test_rejections_do_not_affect_next(bot: Bot) -> None:
    call = await _established(bot)
    await bot.post(None, raw=b"garbage")
    await bot.post(_envelope(), token="bad")
    op = await call.play_prompt([PROMPT])
    await op
    assert op.completed_by == "notification"


# -- dispatch rules on crafted notifications ---------------------------------------


async def test_late_establishing_does_not_move_back(bot: Bot) -> None:
    call = await _established(bot)
    assert await bot.post(_envelope(_call_entry(call.id, state="establishing"))) == 202
    await asyncio.sleep(0.05)
    assert call.state == CallState.ESTABLISHED


async def test_resource_url_forms_and_case(bot: Bot) -> None:
    call = await _established(bot)
    forms = ["communications/calls/{}", "/app/calls/{}", "/communications/calls/{}"]
    events = call.events()
    body = _envelope(
        _call_entry(call.id.upper(), url_form=forms[0], state="hold"),
        _call_entry(call.id.upper(), url_form=forms[1], state="established"),
        {
            "changeType": "Deleted",
            "resourceUrl": forms[2].format(call.id.upper()),
            "resourceData": {
                "state": "terminated",
                "resultInfo": {"code": "200", "subCode": "5001"},
            },
        },
    )
    assert await bot.post(body) == 202
    seen = [e async for e in events]
    states = [str(e.state) for e in seen if isinstance(e, StateChanged)]
    assert states == ["hold", "established", "terminated"]
    assert call.result_info is not None
    assert call.result_info.subcode == 5001


async def test_resource_data_as_array(bot: Bot) -> None:
    call = await _established(bot)
    entry = _call_entry(call.id, state="hold")
    entry["resourceData"] = [entry["resourceData"]]
    assert await bot.post(_envelope(entry)) == 202
    await _eventually(lambda: call.state == CallState.HOLD)


async def test_batch_for_several_calls(bot: Bot) -> None:
    first = await _established(bot)
    second = await _established(bot)
    body = _envelope(
        _call_entry(second.id, state="hold"),
        _call_entry(first.id, state="transferring"),
        _call_entry(second.id, state="established"),
    )
    assert await bot.post(body) == 202
    await _eventually(lambda: first.state == CallState.TRANSFERRING)
    assert second.state == CallState.ESTABLISHED


async def test_duplicate_delivery_applied_once(bot: Bot) -> None:
    calls: list[str] = []

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        calls.append(call.id)

    call_id = str(uuid.uuid4())
    body = _envelope(
        _call_entry(call_id, change="created", state="incoming", direction="incoming")
    )
    assert await bot.post(body) == 202
    assert await bot.post(body) == 202
    await _eventually(lambda: calls)
    await asyncio.sleep(0.05)
    assert calls == [call_id]
    assert bot.client.notifications.entries_duplicated == 1


async def test_repeat_in_another_form_applied_once(bot: Bot) -> None:
    calls: list[str] = []

    @bot.client.on_incoming_call
    async def on_call(call: Any) -> None:
        calls.append(call.id)

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    ring = {
        call_id: _call_entry(
            call_id, change="created", state="incoming", direction="incoming"
        )
        for call_id in (first, second)
    }
    # Delivered in one body, then again: alone, with its keys in another order,
    # and with other whitespace.
    assert await bot.post(_envelope(ring[first], ring[second])) == 202
    assert await bot.post(_envelope(ring[first])) == 202
    reordered = dict(reversed(list(ring[second].items())))
    assert await bot.post(_envelope(reordered)) == 202
    spaced = json.dumps(_envelope(ring[first]), indent=4).encode()
    assert await bot.post(None, raw=spaced) == 202
    await _eventually(lambda: len(calls) == 2)
    await asyncio.sleep(0.05)
    assert sorted(calls) == sorted([first, second])
    assert bot.client.notifications.entries_duplicated == 3


@pytest.mark.parametrize("set_by", ["constructor", "property"])
async def test_repeat_after_dedup_ttl_is_applied(bot: Bot, set_by: str) -> None:
    if set_by == "constructor":
        dispatcher = NotificationDispatcher(bot.client, dedup_ttl=0.1)
        bot.client._dispatcher = dispatcher
    else:
        dispatcher = bot.client.notifications
        assert dispatcher.dedup_ttl == 600.0
        dispatcher.dedup_ttl = 0.1
    # A call the emulator does not know, so only this test's entries arrive.
    call = bot.client.calls[str(uuid.uuid4())]
    body = _envelope(_call_entry(call.id, state="established"))
    assert await bot.post(body) == 202
    assert await bot.post(body) == 202
    assert dispatcher.entries_applied == 1
    assert dispatcher.entries_duplicated == 1
    await asyncio.sleep(0.15)
    assert await bot.post(body) == 202
    assert dispatcher.entries_applied == 2
    assert dispatcher.entries_duplicated == 1


async def test_dedup_ttl_zero_applies_every_repeat(bot: Bot) -> None:
    dispatcher = bot.client.notifications
    dispatcher.dedup_ttl = 0
    call = bot.client.calls[str(uuid.uuid4())]
    entry = _call_entry(call.id, state="established")
    assert await bot.post(_envelope(entry, entry)) == 202
    assert await bot.post(_envelope(entry)) == 202
    assert dispatcher.entries_applied == 3
    assert dispatcher.entries_duplicated == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (10**400, ValueError),
        (True, TypeError),
        ("60", TypeError),
        (None, TypeError),
    ],
)
def test_dedup_ttl_rejects_invalid_value(value: Any, error: type[Exception]) -> None:
    dispatcher = NotificationDispatcher(None)  # type: ignore[arg-type]
    with pytest.raises(error, match="dedup_ttl is") as raised:
        dispatcher.dedup_ttl = value
    assert "give" in str(raised.value)
    assert dispatcher.dedup_ttl == 600.0
    with pytest.raises(error, match="dedup_ttl is"):
        NotificationDispatcher(None, dedup_ttl=value)  # type: ignore[arg-type]


def test_dedup_ttl_takes_any_real_number() -> None:
    dispatcher = NotificationDispatcher(None)  # type: ignore[arg-type]
    dispatcher.dedup_ttl = fractions.Fraction(1, 4)
    assert dispatcher.dedup_ttl == 0.25
    dispatcher.dedup_ttl = decimal.Decimal("2.5")
    assert dispatcher.dedup_ttl == 2.5


async def test_lowered_dedup_ttl_sweeps_old_digests(bot: Bot) -> None:
    dispatcher = bot.client.notifications
    call = bot.client.calls[str(uuid.uuid4())]
    assert await bot.post(_envelope(_call_entry(call.id, state="establishing"))) == 202
    # The first digest was stored for 600 s. Lowering the window must not let it
    # hold back the sweep of the digests stored after it.
    dispatcher.dedup_ttl = 0.05
    for state in ("established", "terminating"):
        assert await bot.post(_envelope(_call_entry(call.id, state=state))) == 202
    assert len(dispatcher._seen) == 3
    await asyncio.sleep(1.1)
    assert await bot.post(_envelope(_call_entry(call.id, state="terminated"))) == 202
    assert len(dispatcher._seen) == 1


async def test_dedup_ttl_zero_stores_no_digest(bot: Bot) -> None:
    dispatcher = bot.client.notifications
    call = bot.client.calls[str(uuid.uuid4())]
    assert await bot.post(_envelope(_call_entry(call.id, state="establishing"))) == 202
    assert len(dispatcher._seen) == 1
    dispatcher.dedup_ttl = 0
    assert await bot.post(_envelope(_call_entry(call.id, state="established"))) == 202
    assert len(dispatcher._seen) == 1


async def test_held_call_entry_expires(bot: Bot) -> None:
    bot.client.notifications.backlog_ttl = 0.05
    call_id = str(uuid.uuid4())
    assert await bot.post(_envelope(_call_entry(call_id, state="established"))) == 202
    assert bot.client.notifications.entries_held == 1
    await asyncio.sleep(0.1)
    call = bot.client.calls[call_id]
    assert call.state is None
    assert bot.client.notifications.entries_expired == 1


async def test_held_operation_report_expires(bot: Bot) -> None:
    bot.client.notifications.backlog_ttl = 0.05
    call = await _established(bot)
    op_id = str(uuid.uuid4())
    entry = {
        "changeType": "deleted",
        "resourceUrl": f"/communications/calls/{call.id}/operations/{op_id}",
        "resourceData": {
            "@odata.type": "#microsoft.graph.playPromptOperation",
            "id": op_id,
            "status": "completed",
            "clientContext": "ctx-late",
        },
    }
    assert await bot.post(_envelope(entry)) == 202
    await asyncio.sleep(0.1)
    first = PlayPromptOperation(id=op_id, status="running", client_context="ctx-late")
    op = bot.client.operations.track(call, first, client_context="ctx-late")
    assert not op.done()
    await call.hang_up()


async def test_compressed_body_is_read_whole(bot: Bot) -> None:
    call = await _established(bot)
    body = json.dumps(_envelope(_call_entry(call.id, state="hold"))).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Authorization": f"Bearer {bot.emulator.sign_notification_token()}",
    }
    async with bot.session.post(
        bot.url, data=gzip.compress(body), headers=headers
    ) as reply:
        assert reply.status == 202
    await _eventually(lambda: call.state == CallState.HOLD)


async def test_unknown_call_is_held_then_applied(bot: Bot) -> None:
    call_id = str(uuid.uuid4())
    assert await bot.post(_envelope(_call_entry(call_id, state="established"))) == 202
    await asyncio.sleep(0.05)
    assert call_id not in bot.client.calls
    call = bot.client.calls[call_id]
    assert call.state == CallState.ESTABLISHED


async def test_early_operation_completion_is_held(bot: Bot) -> None:
    call = await _established(bot)
    op_id = str(uuid.uuid4())
    entry = {
        "changeType": "deleted",
        "resourceUrl": f"/communications/calls/{call.id}/operations/{op_id}",
        "resourceData": {
            "@odata.type": "#microsoft.graph.playPromptOperation",
            "id": op_id.upper(),
            "status": "Completed",
            "clientContext": "ctx-early",
        },
    }
    assert await bot.post(_envelope(entry)) == 202
    await asyncio.sleep(0.05)
    first = PlayPromptOperation(id=op_id, status="running", client_context="ctx-early")
    op = bot.client.operations.track(call, first, client_context="ctx-early")
    assert op.done()
    assert op.completed_by == "notification"


async def test_operation_matched_by_client_context(bot: Bot) -> None:
    call = await _established(bot)
    first = PlayPromptOperation(id=None, status="running", client_context="ctx-only")
    op = bot.client.operations.track(call, first, client_context="ctx-only")
    entry = {
        "changeType": "deleted",
        "resourceUrl": f"/communications/calls/{call.id}/operations/participants",
        "resourceData": {
            "@odata.type": "#microsoft.graph.playPromptOperation",
            "id": None,
            "status": "failed",
            "clientContext": "ctx-only",
            "resultInfo": {"code": 500, "subcode": 9999, "message": "boom"},
        },
    }
    assert await bot.post(_envelope(entry)) == 202
    with pytest.raises(OperationFailed) as info:
        await op.wait(timeout=5)
    assert info.value.subcode == 9999


async def test_bad_entry_does_not_drop_batch(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    call = await _established(bot)
    broken = {
        "changeType": "updated",
        "resourceUrl": f"/communications/calls/{call.id}",
        "resourceData": "x",
    }
    with caplog.at_level(logging.ERROR, "calls_async.notifications"):
        assert (
            await bot.post(_envelope(broken, _call_entry(call.id, state="hold"))) == 202
        )
        await _eventually(lambda: call.state == CallState.HOLD)
    assert any(call.id in r.getMessage() for r in caplog.records)


async def test_unknown_resource_becomes_generic_event(bot: Bot) -> None:
    call = await _established(bot)
    events = call.events()
    entry = {
        "changeType": "updated",
        "resourceUrl": f"/communications/calls/{call.id}/somethingNew",
        "resourceData": {"x": 1},
    }
    assert await bot.post(_envelope(entry)) == 202
    async with asyncio.timeout(5):
        event = await anext(events)
    assert type(event).__name__ == "UnknownNotification"
    assert event.resource_data == {"x": 1}


async def test_disconnect_does_not_cancel_processing(bot: Bot) -> None:
    call = await _established(bot)
    body = json.dumps(_envelope(_call_entry(call.id, state="hold"))).encode()
    token = bot.emulator.sign_notification_token()
    host_port = bot.url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /calls HTTP/1.1\r\nHost: {host_port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await _eventually(lambda: call.state == CallState.HOLD)


def _request_bodies(bot: Bot, suffix: str) -> list[Any]:
    return [r.body for r in bot.emulator.requests if r.path.endswith(suffix)]


async def test_wait_for_established_accepts_hold(bot: Bot) -> None:
    call = await _established(bot)
    assert await bot.post(_envelope(_call_entry(call.id, state="hold"))) == 202
    await _eventually(lambda: call.state == CallState.HOLD)
    reached = await call.wait_for_state(CallState.ESTABLISHED, timeout=1)
    assert reached == CallState.HOLD
    with pytest.raises(TimeoutError):
        await call.wait_for_state(CallState.TRANSFERRING, timeout=0.1)


async def test_nesting_near_decode_limits_gets_reply(bot: Bot) -> None:
    # orjson decodes up to 1,024 levels but writes fewer, so the digest falls back
    # to the standard library, which may run out of recursion. That is a 400, never
    # a 500.
    for depth in (300, 1000):
        data = b"[" * depth + b"]" * depth
        entry = (
            b'{"changeType": "updated", "resourceUrl": "/communications/calls/x",'
            b' "resourceData": ' + data + b"}"
        )
        status = await bot.post(None, raw=b'{"value": [' + entry + b"]}")
        assert status in (202, 400), (depth, status)


async def test_integers_beyond_64_bits_stay_apart(bot: Bot) -> None:
    # Read as floats, 2**70 and 2**70 + 1 would be equal and the second dropped as
    # a repeat of the first.
    call = await _established(bot)
    dispatcher = bot.client.notifications
    first = _call_entry(call.id, state="established", sequence=2**70)
    second = _call_entry(call.id, state="established", sequence=2**70 + 1)
    before = dispatcher.entries_applied
    assert await bot.post(_envelope(first)) == 202
    assert await bot.post(_envelope(second)) == 202
    assert await bot.post(_envelope(second)) == 202
    assert dispatcher.entries_applied == before + 2


@pytest.mark.parametrize(
    "form",
    ["byte order mark", "UTF-16", "NaN and Infinity", "lone surrogate"],
)
async def test_bodies_beyond_rfc_8259_are_accepted(bot: Bot, form: str) -> None:
    # The service sends none of these, but json.loads reads them, so they are not
    # rejected for the sake of orjson's speed.
    call = await _established(bot)
    text = json.dumps(_envelope(_call_entry(call.id, state="established")))
    state = '"state": "established"'
    if form == "byte order mark":
        body = "\ufeff".encode() + text.encode()
    elif form == "UTF-16":
        body = text.encode("utf-16")
    elif form == "NaN and Infinity":
        body = text.replace(state, state + ', "odd": [NaN, Infinity, 1e400]').encode()
    else:
        body = text.replace(state, state + ', "odd": "\\ud83d"').encode()
    before = bot.client.notifications.entries_applied
    assert await bot.post(None, raw=body) == 202
    assert bot.client.notifications.entries_applied == before + 1


async def test_invalid_gzip_gets_400(bot: Bot) -> None:
    status = await bot.post(
        None, raw=b"this is not gzip data", headers={"Content-Encoding": "gzip"}
    )
    assert status == 400
