"""Participants, the roster, audio routing groups and content sharing, over loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from calls_async import (
    AudioRoutingGroup,
    Call,
    ChatInfo,
    ConflictError,
    ContentSharingUpdated,
    HTTPStatusError,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    NotFoundError,
    OperationFailed,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    RosterUpdated,
    RoutingMode,
    ServiceHostedMediaConfig,
)
from tests.conftest import Bot

TENANT = "a1b2c3d4-0000-4000-8000-00000000te01"


def _user(user_id: str) -> InvitationParticipantInfo:
    return InvitationParticipantInfo(
        identity=IdentitySet(user=Identity(id=user_id, display_name=user_id))
    )


async def _roster_size(call: Call, size: int) -> None:
    async with asyncio.timeout(5):
        while len(call.roster) != size:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _group_call(bot: Bot, *users: str, **options: Any) -> Call:
    call = await bot.client.calls.create(
        targets=[_user(u) for u in users],
        media_config=ServiceHostedMediaConfig(),
        **options,
    )
    await call.wait_for_state("established", timeout=5)
    await _roster_size(call, len(users) + 1)
    return call


def _user_ids(participants: Any) -> set[str | None]:
    return {
        p.info.identity.user.id
        for p in participants
        if p.info and p.info.identity and p.info.identity.user
    }


async def _next_roster_event(events: Any) -> RosterUpdated:
    async with asyncio.timeout(5):
        async for event in events:
            if isinstance(event, RosterUpdated):
                return event
    raise AssertionError("the call ended without a roster update")


# -- listing ----------------------------------------------------------------------


async def test_roster_follows_group_call(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    assert _user_ids(call.roster) == {"u-1", "u-2"}
    bot_participant = call.roster.get(call.properties.my_participant_id or "")
    assert bot_participant is not None


async def test_list_and_get_participants(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    listed = await call.participants.list()
    assert len(listed) == 3
    iterated = [p async for p in call.participants]
    assert {p.id for p in iterated} == {p.id for p in listed}
    one = await call.participants.get(listed[0].id)
    assert one.properties is not None
    assert one.properties.id == listed[0].id


async def test_get_unknown_participant(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    with pytest.raises(NotFoundError):
        await call.participants.get("no-such-participant")


# -- invitations ------------------------------------------------------------------


async def test_invite_completes_and_joins(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    events = call.events()
    ops = [await call.participants.invite([_user(u)]) for u in ("u-3", "u-4")]
    assert ops[0].status.lower() == "running"
    for op in ops:
        final = await op
        assert final.status.lower() == "completed"
    await _roster_size(call, 5)
    assert {"u-3", "u-4"} <= _user_ids(call.roster)
    joined: set[str | None] = set()
    while not {"u-3", "u-4"} <= joined:
        event = await _next_roster_event(events)
        joined |= _user_ids(event.joined)


async def test_invite_timeout_fails(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    op = await call.participants.invite([_user("timeout-u-5")])
    with pytest.raises(OperationFailed) as info:
        await op
    assert info.value.code == 408
    assert "timeout-u-5" not in _user_ids(call.roster)


async def test_invite_cancelled_by_removal(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    op = await call.participants.invite([_user("u-6")])
    invited = op.latest.participants or ()
    participant_id = invited[0].participant_id if invited else None
    assert participant_id
    await call.participants[participant_id].remove()
    with pytest.raises(OperationFailed) as info:
        await op
    assert info.value.subcode == 8508


async def test_invite_replaces_call(bot: Bot) -> None:
    group = await _group_call(bot, "u-1", "u-2")
    peer = await bot.client.calls.create(
        targets=[_user("u-7")], media_config=ServiceHostedMediaConfig()
    )
    await peer.wait_for_state("established", timeout=5)
    invitee = InvitationParticipantInfo(
        identity=IdentitySet(user=Identity(id="u-7")), replaces_call_id=peer.id
    )
    await (await group.participants.invite([invitee]))
    body = [r.body for r in bot.emulator.requests if r.path.endswith("/invite")][-1]
    assert body["participants"][0]["replacesCallId"] == peer.id
    await peer.wait_for_state("terminated", timeout=5)


async def test_invite_limits_checked_first(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    before = len(bot.emulator.requests)
    with pytest.raises(ValueError, match="5"):
        await call.participants.invite([_user(f"u-{i}") for i in range(6)])
    with pytest.raises(ValueError, match="chat_info"):
        await call.participants.invite([_user("u-8"), _user("u-9")])
    assert len(bot.emulator.requests) == before


async def test_invite_on_peer_call_is_rejected(bot: Bot) -> None:
    call = await bot.client.calls.create(
        targets=[_user("u-1")], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state("established", timeout=5)
    with pytest.raises(HTTPStatusError) as info:
        await call.participants.invite([_user("u-2")])
    assert getattr(info.value, "status", None) == 400


# -- one participant's actions ------------------------------------------------------


async def test_mute_participant_updates_roster(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    target = next(p for p in call.roster if _user_ids([p]) == {"u-1"})
    assert target.id
    events = call.events()
    op = await call.participants[target.id].mute()
    assert op.done()
    event = await _next_roster_event(events)
    assert [p.id for p in event.changed] == [target.id]
    roster_entry = call.roster.get(target.id)
    assert roster_entry is not None
    assert roster_entry.is_muted is True
    assert target.id in {p.id for p in call.roster.muted}


async def test_hold_music_one_at_a_time(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    first, second = (p for p in call.roster if _user_ids([p]) & {"u-1", "u-2"})
    assert first.id
    assert second.id
    held = await call.participants[first.id].start_hold_music(
        custom_prompt="https://media.example.com/hold.wav"
    )
    await held
    with pytest.raises(ConflictError):
        await call.participants[second.id].start_hold_music()
    await (await call.participants[first.id].stop_hold_music())
    with pytest.raises(ConflictError):
        await call.participants[first.id].stop_hold_music()


async def test_remove_participant(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    target = next(p for p in call.roster if _user_ids([p]) == {"u-2"})
    assert target.id
    await call.participants[target.id].remove()
    assert target.id not in call.roster
    await _roster_size(call, 2)
    with pytest.raises(NotFoundError):
        await call.participants[target.id].remove()


# -- meetings and the lobby ----------------------------------------------------------


async def test_meeting_roster_with_lobby(bot: Bot) -> None:
    organizer = IdentitySet(user=Identity(id="u-org", tenant_id=TENANT))
    call = await bot.client.calls.create(
        media_config=ServiceHostedMediaConfig(),
        chat_info=ChatInfo(thread_id="19:meeting_abc@thread.v2", message_id="0"),
        meeting_info=OrganizerMeetingInfo(organizer=organizer),
        tenant_id=TENANT,
    )
    await call.wait_for_state("established", timeout=5)
    async with asyncio.timeout(5):
        while not call.roster.in_lobby:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    waiting = call.roster.in_lobby[0]
    assert waiting.id
    events = call.events()
    await bot.emulator.admit_participant(call.id, waiting.id)
    event = await _next_roster_event(events)
    assert [p.id for p in event.changed] == [waiting.id]
    assert not call.roster.in_lobby


async def test_delta_roster_tracks_join_and_leave(bot: Bot) -> None:
    call = await _group_call(
        bot,
        "u-1",
        "u-2",
        call_options=OutgoingCallOptions(is_delta_roster_enabled=True),
    )
    assert call.delta_roster
    events = call.events()
    joined_id = await bot.emulator.join_participant(call.id, display_name="Late Guest")
    event = await _next_roster_event(events)
    assert [p.id for p in event.joined] == [joined_id]
    assert joined_id in call.roster
    await bot.emulator.leave_participant(call.id, joined_id)
    event = await _next_roster_event(events)
    assert [p.id for p in event.left] == [joined_id]
    assert joined_id not in call.roster
    assert call.roster.sequence_number is not None
    assert len(call.roster) == 3


# -- audio routing groups ---------------------------------------------------------


async def test_audio_routing_group_crud(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    ids = [p.id for p in call.roster if p.id]
    me = call.properties.my_participant_id
    others = [i for i in ids if i != me]
    created = await call.audio_routing_groups.create(
        AudioRoutingGroup(
            id="oneToOne",
            routing_mode=RoutingMode.ONE_TO_ONE,
            sources=(me,),
            receivers=(others[0],),
        )
    )
    assert created.id == "oneToOne"
    listed = await call.audio_routing_groups.list()
    assert [g.id for g in listed] == ["oneToOne"]
    updated = await call.audio_routing_groups.update(
        "oneToOne", routing_mode="multicast", receivers=others
    )
    assert set(updated.receivers or ()) == set(others)
    fetched = await call.audio_routing_groups.get("oneToOne")
    assert fetched.routing_mode == RoutingMode.MULTICAST
    await call.audio_routing_groups.delete("oneToOne")
    with pytest.raises(NotFoundError):
        await call.audio_routing_groups.get("oneToOne")


async def test_audio_routing_group_checked_first(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    before = len(bot.emulator.requests)
    with pytest.raises(ValueError, match="one"):
        await call.audio_routing_groups.create(
            AudioRoutingGroup(
                routing_mode=RoutingMode.ONE_TO_ONE,
                sources=("a",),
                receivers=("b", "c"),
            )
        )
    assert len(bot.emulator.requests) == before


async def test_audio_routing_group_unknown_participant(bot: Bot) -> None:
    call = await _group_call(bot, "u-1", "u-2")
    with pytest.raises(HTTPStatusError) as info:
        await call.audio_routing_groups.create(
            AudioRoutingGroup(
                routing_mode=RoutingMode.ONE_TO_ONE, sources=("x",), receivers=("y",)
            )
        )
    assert getattr(info.value, "status", None) == 400


# -- content sharing -------------------------------------------------------------------


async def test_content_sharing_sessions_and_events(bot: Bot) -> None:
    call = await _group_call(
        bot,
        "u-1",
        "u-2",
        call_options=OutgoingCallOptions(is_content_sharing_notification_enabled=True),
    )
    sharer = next(p for p in call.roster if _user_ids([p]) == {"u-1"})
    assert sharer.id
    events = call.events()
    session_id = await bot.emulator.start_screen_sharing(call.id, sharer.id)
    async with asyncio.timeout(5):
        async for event in events:
            if isinstance(event, ContentSharingUpdated):
                break
    assert event.change_type == "created"
    assert [s.id for s in event.sessions] == [session_id]
    sessions = await call.content_sharing_sessions.list()
    assert [s.id for s in sessions] == [session_id]
    one = await call.content_sharing_sessions.get(session_id)
    assert one.id == session_id
