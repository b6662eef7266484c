"""Participants, invitations, hold music, audio routing groups and content sharing
in the emulator, driven over HTTP with a plain aiohttp session."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calls_async.testing import DEFAULT_APP_ID, Emulator, EmulatorError

WAIT_TIMEOUT = 3.0
SERVICE_HOSTED = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}
PROMPT = {
    "@odata.type": "#microsoft.graph.mediaPrompt",
    "mediaInfo": {"uri": "https://media.example.com/hold.wav"},
}
CHAT_INFO = {"threadId": "19:meeting_x@thread.v2", "messageId": "0"}
MEETING_INFO = {
    "@odata.type": "#microsoft.graph.organizerMeetingInfo",
    "organizer": {"user": {"id": "organizer-1", "displayName": "Organizer"}},
}
DELAYS = {
    "establish_delay": 0.02,
    "terminate_delay": 0.02,
    "operation_delay": 0.02,
    "invite_delay": 0.05,
    "notification_retry_backoff": 0.01,
}


def user(user_id: str, **extra: Any) -> dict[str, Any]:
    return {"identity": {"user": {"id": user_id, "displayName": user_id}}, **extra}


@dataclasses.dataclass
class Reply:
    status: int
    headers: Any
    body: Any


class Receiver:
    """A bot's callback endpoint on loopback that records every notification."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/callback"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.entries.extend(body["value"])
            self._changed.notify_all()
        return web.Response(status=202)

    def matching(self, suffix: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["resourceUrl"].endswith(suffix)]

    async def wait_for(self, suffix: str, count: int) -> list[dict[str, Any]]:
        """Wait for `count` entries whose resourceUrl ends with `suffix`."""
        async with asyncio.timeout(WAIT_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(self.matching(suffix)) >= count)
        return self.matching(suffix)

    async def rosters(self, call_id: str, count: int) -> list[Any]:
        """Wait for `count` roster notifications of a call and return their data."""
        entries = await self.wait_for(f"/calls/{call_id}/participants", count)
        for entry in entries:
            assert entry["changeType"] == "updated"
        return [entry["resourceData"] for entry in entries]


class Graph:
    """A thin HTTP helper for the emulator's Graph API with one bearer token."""

    def __init__(
        self, session: aiohttp.ClientSession, emulator: Emulator, callback: str
    ) -> None:
        self.session = session
        self.emulator = emulator
        self.callback = callback
        self.headers = {"Authorization": f"Bearer {emulator.issue_token()}"}

    async def request(self, method: str, path: str, json: Any = None) -> Reply:
        url = self.emulator.base_url + path
        async with self.session.request(
            method, url, json=json, headers=self.headers
        ) as response:
            raw = await response.read()
            body = await response.json() if raw else None
            return Reply(response.status, response.headers, body)

    async def create_call(self, **overrides: Any) -> str:
        body: dict[str, Any] = {
            "callbackUri": self.callback,
            "targets": [user("user-1")],
            "requestedModalities": ["audio"],
            "mediaConfig": SERVICE_HOSTED,
        }
        body.update(overrides)
        reply = await self.request("POST", "/communications/calls", body)
        assert reply.status == 201, reply.body
        call_id = str(reply.body["id"])
        async with asyncio.timeout(WAIT_TIMEOUT):
            await self.emulator.wait_for_state(call_id, "established")
        return call_id

    async def group_call(self, **overrides: Any) -> str:
        body: dict[str, Any] = {"targets": [user("user-1"), user("user-2")]}
        body.update(overrides)
        return await self.create_call(**body)

    async def meeting(self, **overrides: Any) -> str:
        return await self.create_call(
            targets=None, chatInfo=CHAT_INFO, meetingInfo=MEETING_INFO, **overrides
        )

    async def participants(self, call_id: str) -> list[dict[str, Any]]:
        reply = await self.request(
            "GET", f"/communications/calls/{call_id}/participants"
        )
        assert reply.status == 200, reply.body
        value: list[dict[str, Any]] = reply.body["value"]
        return value

    async def other_ids(self, call_id: str) -> list[str]:
        """Return the ids of the participants other than the bot."""
        call = self.emulator.call_resource(call_id)
        assert call is not None
        participants = await self.participants(call_id)
        return [p["id"] for p in participants if p["id"] != call["myParticipantId"]]

    async def post(self, call_id: str, path: str, json: Any = None) -> Reply:
        return await self.request(
            "POST", f"/communications/calls/{call_id}{path}", json
        )


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(**DELAYS) as emu:
        yield emu


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    bot = Receiver()
    await bot.start()
    yield bot
    await bot.close()


@pytest.fixture
async def graph(emulator: Emulator, receiver: Receiver) -> AsyncIterator[Graph]:
    async with aiohttp.ClientSession() as session:
        yield Graph(session, emulator, receiver.url)


def ids(participants: list[dict[str, Any]]) -> list[str]:
    return [participant["id"] for participant in participants]


async def wait_for_operation(
    emulator: Emulator, call_id: str, operation_id: str
) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_TIMEOUT):
        return await emulator.wait_for_operation(call_id, operation_id)


# Rosters


async def test_peer_to_peer_roster(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.create_call()
    call = emulator.call_resource(call_id)
    assert call is not None

    reply = await graph.request("GET", f"/communications/calls/{call_id}/participants")

    assert reply.status == 200
    assert reply.body["@odata.context"].endswith(
        f"$metadata#communications/calls('{call_id}')/participants"
    )
    bot, target = reply.body["value"]
    assert bot["id"] == call["myParticipantId"]
    assert bot["info"]["identity"]["application"]["id"] == DEFAULT_APP_ID
    assert target["info"]["identity"]["user"]["id"] == "user-1"
    assert target["@odata.type"] == "#microsoft.graph.participant"
    assert target["info"]["@odata.type"] == "#microsoft.graph.participantInfo"
    assert target["isMuted"] is False
    assert target["isInLobby"] is False
    assert target["rosterSequenceNumber"] == 1
    stream = target["mediaStreams"][0]
    assert stream["mediaType"] == "audio"
    assert stream["direction"] == "sendReceive"
    assert stream["label"] == "main-audio"


async def test_group_call_roster_has_targets(graph: Graph) -> None:
    call_id = await graph.group_call()

    participants = await graph.participants(call_id)

    users = [p["info"]["identity"].get("user", {}).get("id") for p in participants]
    assert users == [None, "user-1", "user-2"]


async def test_meeting_roster_has_attendees_and_lobby(graph: Graph) -> None:
    call_id = await graph.meeting()

    participants = await graph.participants(call_id)

    assert len(participants) == 4
    organizer = participants[1]["info"]["identity"]["user"]
    assert organizer["id"] == "organizer-1"
    in_lobby = [p for p in participants if p["isInLobby"]]
    assert len(in_lobby) == 1
    assert in_lobby[0]["isMuted"] is True
    assert in_lobby[0]["mediaStreams"] == []


async def test_meeting_attendees_are_configurable() -> None:
    async with Emulator(meeting_attendees=0, meeting_lobby_attendees=3) as emulator:
        call_id = await emulator.ring("https://bot.example.com/cb", group=True)

        participants = emulator.participants(call_id)

    assert participants is not None
    assert len(participants) == 5
    assert sum(p["isInLobby"] for p in participants) == 3


async def test_get_participant(graph: Graph) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    reply = await graph.request(
        "GET", f"/communications/calls/{call_id}/participants/{participant_id.upper()}"
    )

    assert reply.status == 200
    assert reply.body["id"] == participant_id
    assert reply.body["@odata.context"].endswith("/participants/$entity")


async def test_get_unknown_participant_is_404(graph: Graph) -> None:
    call_id = await graph.group_call()

    reply = await graph.request(
        "GET", f"/communications/calls/{call_id}/participants/nobody"
    )

    assert reply.status == 404
    assert reply.body["error"]["code"] == "itemNotFound"


async def test_participants_of_unknown_call_is_404(graph: Graph) -> None:
    reply = await graph.request("GET", "/communications/calls/nope/participants")

    assert reply.status == 404


async def test_navigation_segment_ignores_case(graph: Graph) -> None:
    call_id = await graph.group_call()

    reply = await graph.request("GET", f"/communications/calls/{call_id}/PARTICIPANTS")

    assert reply.status == 200
    assert len(reply.body["value"]) == 3


async def test_target_participant_id_is_kept(graph: Graph) -> None:
    call_id = await graph.group_call(
        targets=[user("user-1", participantId="chosen-id"), user("user-2")]
    )

    assert "chosen-id" in await graph.other_ids(call_id)


# Roster notifications


async def test_group_call_sends_initial_roster(
    graph: Graph, receiver: Receiver
) -> None:
    call_id = await graph.group_call()

    (roster,) = await receiver.rosters(call_id, 1)

    assert isinstance(roster, list)
    assert len(roster) == 3
    assert all(p["@odata.type"] == "#microsoft.graph.participant" for p in roster)


async def test_peer_to_peer_call_sends_no_roster(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.create_call()
    participant_id = (await graph.other_ids(call_id))[0]
    await graph.post(call_id, "/mute", {})
    await emulator.start_screen_sharing(call_id, participant_id)

    async with asyncio.timeout(WAIT_TIMEOUT):
        await emulator.drain_notifications()

    assert receiver.matching("/participants") == []


async def test_roster_through_join_lobby_admit_mute_and_removal(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    await receiver.rosters(call_id, 1)

    guest_id = await emulator.join_participant(
        call_id, display_name="Guest", in_lobby=True
    )
    await emulator.admit_participant(call_id, guest_id)
    mute = await graph.post(call_id, f"/participants/{guest_id}/mute", {})
    removed = await graph.request(
        "DELETE", f"/communications/calls/{call_id}/participants/{guest_id}"
    )
    rosters = await receiver.rosters(call_id, 5)

    assert mute.status == 200
    assert removed.status == 204
    joined, admitted, muted, after_removal = rosters[1:]
    guest = {p["id"]: p for p in joined}[guest_id]
    assert guest["isInLobby"] is True
    assert guest["isMuted"] is True
    assert guest["info"]["identity"]["user"]["displayName"] == "Guest"
    guest = {p["id"]: p for p in admitted}[guest_id]
    assert guest["isInLobby"] is False
    assert guest["isMuted"] is False
    guest = {p["id"]: p for p in muted}[guest_id]
    assert guest["isMuted"] is True
    assert guest["mediaStreams"][0]["serverMuted"] is True
    assert guest_id not in ids(after_removal)
    sequence = [
        {p["id"]: p for p in roster}[guest_id]["rosterSequenceNumber"]
        for roster in (joined, admitted, muted)
    ]
    assert sequence == sorted(set(sequence))


async def test_delta_roster_sends_changes_only(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call(
        callOptions={
            "@odata.type": "#microsoft.graph.outgoingCallOptions",
            "isDeltaRosterEnabled": True,
        }
    )
    guest_id = await emulator.join_participant(call_id)
    await emulator.leave_participant(call_id, guest_id)

    initial, joined, left = await receiver.rosters(call_id, 3)

    for delta in (initial, joined, left):
        assert delta["@odata.type"] == "#microsoft.graph.deltaParticipants"
    assert len(initial["participants"]) == 3
    assert ids(joined["participants"]) == [guest_id]
    assert ids(left["participants"]) == [guest_id]
    assert joined["participants"][0]["removedState"] is None
    assert left["participants"][0]["removedState"]["reason"] == "Left the call."
    numbers = [d["sequenceNumber"] for d in (initial, joined, left)]
    assert numbers == sorted(set(numbers))
    assert left["participants"][0]["rosterSequenceNumber"] == numbers[-1]


async def test_delta_roster_on_answered_call(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await emulator.ring(receiver.url, group=True)
    await graph.post(
        call_id,
        "/answer",
        {
            "callbackUri": receiver.url,
            "mediaConfig": SERVICE_HOSTED,
            "acceptedModalities": ["audio"],
            "callOptions": {
                "@odata.type": "#microsoft.graph.incomingCallOptions",
                "isDeltaRosterEnabled": True,
            },
        },
    )

    (initial,) = await receiver.rosters(call_id, 1)

    assert initial["@odata.type"] == "#microsoft.graph.deltaParticipants"
    assert len(initial["participants"]) == 5


async def test_self_mute_updates_bot_participant(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    call = emulator.call_resource(call_id)
    assert call is not None

    await graph.post(call_id, "/mute", {})
    await graph.post(call_id, "/unmute", {})
    muted, unmuted = (await receiver.rosters(call_id, 3))[1:]

    bot_id = call["myParticipantId"]
    assert {p["id"]: p for p in muted}[bot_id]["isMuted"] is True
    assert {p["id"]: p for p in unmuted}[bot_id]["isMuted"] is False


async def test_simulation_errors(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    call = emulator.call_resource(call_id)
    assert call is not None
    other_id = (await graph.other_ids(call_id))[0]

    cases = [
        (emulator.admit_participant(call_id, other_id), 409),
        (emulator.leave_participant(call_id, call["myParticipantId"]), 400),
        (emulator.leave_participant(call_id, "nobody"), 404),
        (emulator.join_participant("no-call"), 404),
        (emulator.join_participant(call_id, participant_id=other_id), 409),
        (emulator.stop_screen_sharing(call_id, other_id), 409),
    ]
    for attempt, status in cases:
        with pytest.raises(EmulatorError) as caught:
            await attempt
        assert caught.value.status == status


async def test_simulation_over_http(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    base = f"{emulator.url}/_emulator/calls/{call_id}/participants"
    session = graph.session

    async with session.post(base, json={"displayName": "Web", "inLobby": True}) as r:
        joined_status = r.status
        participant = await r.json()
    participant_id = participant["id"]
    async with session.post(f"{base}/{participant_id}/admit") as r:
        admit_status = r.status
    async with session.post(f"{base}/{participant_id}/screenSharing") as r:
        share_status = r.status
        session_resource = await r.json()
    async with session.delete(f"{base}/{participant_id}/screenSharing") as r:
        unshare_status = r.status
    async with session.get(base) as r:
        listed = await r.json()
    async with session.delete(f"{base}/{participant_id}") as r:
        leave_status = r.status
    async with session.post(f"{base}/{participant_id}/admit") as r:
        missing_status = r.status
        missing = await r.json()

    assert joined_status == 201
    assert participant["isInLobby"] is True
    assert admit_status == 204
    assert share_status == 201
    assert session_resource["@odata.type"] == "#microsoft.graph.contentSharingSession"
    assert unshare_status == 204
    assert participant_id in ids(listed["value"])
    assert leave_status == 204
    assert missing_status == 404
    assert missing["error"]["code"] == "itemNotFound"
    assert participant_id not in ids(emulator.participants(call_id) or [])


# Invitations


async def test_invite_lifecycle(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    await receiver.rosters(call_id, 1)

    reply = await graph.post(
        call_id,
        "/participants/invite",
        {"participants": [user("user-3")], "clientContext": "c-invite"},
    )

    assert reply.status == 200
    operation = reply.body
    assert reply.headers["Location"] == (
        f"{emulator.base_url}/communications/calls/{call_id}/operations/"
        f"{operation['id']}"
    )
    assert operation["@odata.type"] == "#microsoft.graph.inviteParticipantsOperation"
    assert operation["status"] == "Running"
    assert operation["clientContext"] == "c-invite"
    echoed = operation["participants"][0]
    assert echoed["identity"]["user"]["id"] == "user-3"
    invitee_id = echoed["participantId"]
    assert invitee_id not in ids(await graph.participants(call_id))

    done = await receiver.wait_for(f"/operations/{operation['id']}", 1)
    rosters = await receiver.rosters(call_id, 2)
    assert invitee_id in ids(rosters[1])
    assert done[0]["changeType"] == "deleted"
    assert done[0]["resourceData"]["status"] == "completed"
    assert done[0]["resourceData"]["resultInfo"]["code"] == 200
    assert receiver.entries.index(done[0]) > receiver.entries.index(
        receiver.matching("/participants")[1]
    )
    assert invitee_id in ids(await graph.participants(call_id))


async def test_invite_qualified_action_name(graph: Graph) -> None:
    call_id = await graph.group_call()

    reply = await graph.post(
        call_id,
        "/participants/microsoft.graph.invite",
        {"participants": [user("user-3")]},
    )

    assert reply.status == 200


@pytest.mark.parametrize(
    ("user_id", "code", "subcode"),
    [("timeout-user", 408, 10057), ("Unreachable-user", 480, 10076)],
)
async def test_invite_failure_markers(
    graph: Graph, emulator: Emulator, user_id: str, code: int, subcode: int
) -> None:
    call_id = await graph.group_call()

    reply = await graph.post(
        call_id, "/participants/invite", {"participants": [user(user_id)]}
    )
    operation = await wait_for_operation(emulator, call_id, reply.body["id"])

    assert operation["status"] == "failed"
    assert operation["resultInfo"]["code"] == code
    assert operation["resultInfo"]["subcode"] == subcode
    assert len(await graph.participants(call_id)) == 3


async def test_invite_cancelled_by_delete(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    reply = await graph.post(
        call_id, "/participants/invite", {"participants": [user("user-3")]}
    )
    invitee_id = reply.body["participants"][0]["participantId"]

    deleted = await graph.request(
        "DELETE", f"/communications/calls/{call_id}/participants/{invitee_id}"
    )
    operation = emulator.operation_resource(call_id, reply.body["id"])
    await asyncio.sleep(DELAYS["invite_delay"] * 3)

    assert deleted.status == 204
    assert operation is not None
    assert operation["status"] == "failed"
    assert operation["resultInfo"]["code"] == 400
    assert operation["resultInfo"]["subcode"] == 8508
    assert invitee_id not in ids(await graph.participants(call_id))
    done = await receiver.wait_for(f"/operations/{reply.body['id']}", 1)
    assert done[0]["resourceData"]["status"] == "failed"


async def test_invite_replaces_call(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    peer_call_id = await graph.create_call()
    call_id = await graph.group_call()

    reply = await graph.post(
        call_id,
        "/participants/invite",
        {"participants": [user("user-1", replacesCallId=peer_call_id)]},
    )
    await wait_for_operation(emulator, call_id, reply.body["id"])

    assert emulator.call_state(peer_call_id) is None
    ended = await receiver.wait_for(f"/communications/calls/{peer_call_id}", 3)
    assert ended[-1]["changeType"] == "deleted"
    assert ended[-1]["resourceData"]["state"] == "terminated"


async def test_invite_on_peer_to_peer_call_is_400(graph: Graph) -> None:
    call_id = await graph.create_call()

    reply = await graph.post(
        call_id, "/participants/invite", {"participants": [user("user-3")]}
    )

    assert reply.status == 400
    assert "peer-to-peer" in reply.body["error"]["message"]


async def test_invite_more_than_five_is_400(graph: Graph) -> None:
    call_id = await graph.meeting()
    invitees = [user(f"user-{n}") for n in range(6)]

    reply = await graph.post(
        call_id, "/participants/invite", {"participants": invitees}
    )

    assert reply.status == 400
    assert "participants" in reply.body["error"]["message"]


async def test_multi_invite_needs_chat_info(graph: Graph, emulator: Emulator) -> None:
    group_call_id = await graph.group_call()
    meeting_id = await graph.meeting()
    invitees = {"participants": [user("user-3"), user("user-4")]}

    rejected = await graph.post(group_call_id, "/participants/invite", invitees)
    accepted = await graph.post(meeting_id, "/participants/invite", invitees)
    await wait_for_operation(emulator, meeting_id, accepted.body["id"])

    assert rejected.status == 400
    assert "chatInfo" in rejected.body["error"]["message"]
    assert accepted.status == 200
    assert len(await graph.participants(meeting_id)) == 6


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"participants": []},
        {"participants": [{"identity": None}]},
        {"participants": [user("user-3", replacesCallId=5)]},
        {"participants": [user("user-3")], "clientContext": "x" * 257},
    ],
)
async def test_invalid_invite_is_400(graph: Graph, body: dict[str, Any]) -> None:
    call_id = await graph.group_call()

    reply = await graph.post(call_id, "/participants/invite", body)

    assert reply.status == 400


async def test_invite_reused_participant_id_is_409(graph: Graph) -> None:
    call_id = await graph.group_call()
    taken = (await graph.other_ids(call_id))[0]

    reply = await graph.post(
        call_id,
        "/participants/invite",
        {"participants": [user("user-3", participantId=taken)]},
    )

    assert reply.status == 409


async def test_invite_on_incoming_call_is_409(graph: Graph, emulator: Emulator) -> None:
    call_id = await emulator.ring(graph.callback, group=True)

    reply = await graph.post(
        call_id, "/participants/invite", {"participants": [user("user-3")]}
    )

    assert reply.status == 409
    assert reply.body["error"]["code"] == "notAllowed"


# Participant mute and removal


async def test_mute_participant(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    reply = await graph.post(
        call_id, f"/participants/{participant_id}/mute", {"clientContext": "c-m"}
    )

    assert reply.status == 200
    assert "/operations/" in reply.headers["Location"]
    assert reply.body["@odata.type"] == "#microsoft.graph.muteParticipantOperation"
    assert reply.body["status"] == "completed"
    assert reply.body["clientContext"] == "c-m"
    participant = emulator.participant_resource(call_id, participant_id)
    assert participant is not None
    assert participant["isMuted"] is True


async def test_mute_participant_errors(graph: Graph, emulator: Emulator) -> None:
    peer_call_id = await graph.create_call()
    peer_id = (await graph.other_ids(peer_call_id))[0]
    call_id = await graph.group_call()

    peer = await graph.post(peer_call_id, f"/participants/{peer_id}/mute", {})
    unknown = await graph.post(call_id, "/participants/nobody/mute", {})
    unknown_action = await graph.post(call_id, f"/participants/{peer_id}/dance", {})

    assert peer.status == 400
    assert unknown.status == 404
    assert unknown_action.status == 400


async def test_remove_participant(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    reply = await graph.request(
        "DELETE", f"/communications/calls/{call_id}/participants/{participant_id}"
    )
    again = await graph.request(
        "DELETE", f"/communications/calls/{call_id}/participants/{participant_id}"
    )

    assert reply.status == 204
    assert participant_id not in await graph.other_ids(call_id)
    assert again.status == 404


async def test_remove_bot_participant_is_400(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    call = emulator.call_resource(call_id)
    assert call is not None

    reply = await graph.request(
        "DELETE",
        f"/communications/calls/{call_id}/participants/{call['myParticipantId']}",
    )

    assert reply.status == 400


# Hold music


async def test_hold_music_lifecycle(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]
    path = f"/participants/{participant_id}"

    started = await graph.post(
        call_id, f"{path}/startHoldMusic", {"customPrompt": PROMPT}
    )
    start_done = await wait_for_operation(emulator, call_id, started.body["id"])
    stopped = await graph.post(call_id, f"{path}/stopHoldMusic", {})
    stop_done = await wait_for_operation(emulator, call_id, stopped.body["id"])

    assert started.status == 202
    assert "/operations/" in started.headers["Location"]
    assert started.body["@odata.type"] == "#microsoft.graph.startHoldMusicOperation"
    assert started.body["status"] == "running"
    assert start_done["status"] == "completed"
    assert stopped.status == 202
    assert stopped.body["@odata.type"] == "#microsoft.graph.stopHoldMusicOperation"
    assert stop_done["status"] == "completed"
    notified = await receiver.wait_for(f"/operations/{stopped.body['id']}", 1)
    assert notified[0]["changeType"] == "deleted"


async def test_one_participant_on_hold_at_a_time(graph: Graph) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)

    await graph.post(call_id, f"/participants/{first}/startHoldMusic", {})
    second_hold = await graph.post(
        call_id, f"/participants/{second}/startHoldMusic", {}
    )
    same_again = await graph.post(call_id, f"/participants/{first}/startHoldMusic", {})
    await graph.post(call_id, f"/participants/{first}/stopHoldMusic", {})
    after_stop = await graph.post(call_id, f"/participants/{second}/startHoldMusic", {})

    assert second_hold.status == 409
    assert second_hold.body["error"]["code"] == "notAllowed"
    assert first in second_hold.body["error"]["message"]
    assert same_again.status == 409
    assert after_stop.status == 202


async def test_stop_hold_music_not_on_hold_is_409(graph: Graph) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    reply = await graph.post(call_id, f"/participants/{participant_id}/stopHoldMusic")

    assert reply.status == 409
    assert "not on hold" in reply.body["error"]["message"]


@pytest.mark.parametrize(
    "prompt",
    [
        {"mediaInfo": {"uri": "https://media.example.com/hold.wav"}},
        {**PROMPT, "mediaInfo": {"uri": "http://media.example.com/hold.wav"}},
        {"@odata.type": "#microsoft.graph.mediaPrompt"},
    ],
    ids=["no odata type", "http uri", "no media info"],
)
async def test_invalid_custom_prompt_is_400(
    graph: Graph, prompt: dict[str, Any]
) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    reply = await graph.post(
        call_id,
        f"/participants/{participant_id}/startHoldMusic",
        {"customPrompt": prompt},
    )

    assert reply.status == 400
    assert "customPrompt" in reply.body["error"]["message"]


async def test_hold_music_on_bot_is_400(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    call = emulator.call_resource(call_id)
    assert call is not None

    reply = await graph.post(
        call_id, f"/participants/{call['myParticipantId']}/startHoldMusic", {}
    )

    assert reply.status == 400


async def test_hold_music_in_lobby_is_409(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.group_call()
    guest_id = await emulator.join_participant(call_id, in_lobby=True)

    reply = await graph.post(call_id, f"/participants/{guest_id}/startHoldMusic", {})

    assert reply.status == 409


# Audio routing groups


async def test_audio_routing_group_crud(graph: Graph) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)
    groups = f"/communications/calls/{call_id}/audioRoutingGroups"

    created = await graph.request(
        "POST",
        groups,
        {
            "id": "oneToOne",
            "routingMode": "oneToOne",
            "sources": [first],
            "receivers": [second],
        },
    )
    listed = await graph.request("GET", groups)
    fetched = await graph.request("GET", f"{groups}/ONETOONE")
    updated = await graph.request(
        "PATCH", f"{groups}/oneToOne", {"sources": [second], "receivers": [first]}
    )
    deleted = await graph.request("DELETE", f"{groups}/oneToOne")
    gone = await graph.request("GET", f"{groups}/oneToOne")

    assert created.status == 200
    assert created.body["@odata.type"] == "#microsoft.graph.audioRoutingGroup"
    assert created.body["id"] == "oneToOne"
    assert created.body["sources"] == [first]
    assert listed.status == 200
    assert ids(listed.body["value"]) == ["oneToOne"]
    assert fetched.status == 200
    assert fetched.body["receivers"] == [second]
    assert updated.status == 200
    assert updated.body["sources"] == [second]
    assert updated.body["receivers"] == [first]
    assert updated.body["routingMode"] == "oneToOne"
    assert deleted.status == 204
    assert gone.status == 404


async def test_audio_routing_group_generated_id(graph: Graph) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)

    created = await graph.request(
        "POST",
        f"/communications/calls/{call_id}/audioRoutingGroups",
        {"routingMode": "multicast", "sources": [first], "receivers": [second, first]},
    )

    assert created.status == 200
    assert created.body["id"]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ({"sources": ["A"], "receivers": ["B"]}, "routingMode"),
        (
            {"routingMode": "broadcast", "sources": ["A"], "receivers": ["B"]},
            "routingMode",
        ),
        ({"routingMode": "oneToOne", "receivers": ["B"]}, "sources"),
        (
            {"routingMode": "oneToOne", "sources": ["A"], "receivers": ["A", "B"]},
            "exactly 1",
        ),
        ({"routingMode": "multicast", "sources": ["A"], "receivers": []}, "at least 1"),
        (
            {"routingMode": "multicast", "sources": ["A", "B"], "receivers": ["B"]},
            "exactly 1",
        ),
        (
            {"routingMode": "oneToOne", "sources": ["A"], "receivers": ["nobody"]},
            "nobody",
        ),
        ({"routingMode": "oneToOne", "sources": "A", "receivers": ["B"]}, "sources"),
    ],
)
async def test_invalid_audio_routing_group_is_400(
    graph: Graph, group: dict[str, Any], message: str
) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)
    placeholders = {"A": first, "B": second}

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [placeholders.get(item, item) for item in value]
        return placeholders.get(value, value)

    body = {key: resolve(value) for key, value in group.items()}
    reply = await graph.request(
        "POST", f"/communications/calls/{call_id}/audioRoutingGroups", body
    )

    assert reply.status == 400
    assert message in reply.body["error"]["message"]


async def test_audio_routing_group_duplicate_id_is_409(graph: Graph) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)
    group = {
        "id": "g",
        "routingMode": "oneToOne",
        "sources": [first],
        "receivers": [second],
    }
    groups = f"/communications/calls/{call_id}/audioRoutingGroups"

    await graph.request("POST", groups, group)
    again = await graph.request("POST", groups, {**group, "id": "G"})

    assert again.status == 409


async def test_audio_routing_group_update_checks_result(graph: Graph) -> None:
    call_id = await graph.group_call()
    first, second = await graph.other_ids(call_id)
    groups = f"/communications/calls/{call_id}/audioRoutingGroups"
    await graph.request(
        "POST",
        groups,
        {
            "id": "g",
            "routingMode": "multicast",
            "sources": [first],
            "receivers": [second],
        },
    )

    too_many = await graph.request(
        "PATCH",
        f"{groups}/g",
        {"routingMode": "oneToOne", "receivers": [first, second]},
    )
    renamed = await graph.request("PATCH", f"{groups}/g", {"id": "other"})
    unknown = await graph.request("PATCH", f"{groups}/missing", {"receivers": [first]})
    unknown_delete = await graph.request("DELETE", f"{groups}/missing")

    assert too_many.status == 400
    assert renamed.status == 400
    assert unknown.status == 404
    assert unknown_delete.status == 404


# Content sharing sessions


async def test_content_sharing_notifications_when_enabled(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call(
        callOptions={
            "@odata.type": "#microsoft.graph.outgoingCallOptions",
            "isContentSharingNotificationEnabled": True,
        }
    )
    participant_id = (await graph.other_ids(call_id))[0]
    sessions = f"/communications/calls/{call_id}/contentSharingSessions"

    session_id = await emulator.start_screen_sharing(call_id, participant_id)
    listed = await graph.request("GET", sessions)
    fetched = await graph.request("GET", f"{sessions}/{session_id}")
    await emulator.stop_screen_sharing(call_id, participant_id)
    after_stop = await graph.request("GET", sessions)
    created, deleted = await receiver.wait_for("/contentsharingsessions", 2)

    assert listed.status == 200
    assert ids(listed.body["value"]) == [session_id]
    assert fetched.status == 200
    assert fetched.body["@odata.type"] == "#microsoft.graph.contentSharingSession"
    assert after_stop.body["value"] == []
    assert created["changeType"] == "created"
    assert created["resourceUrl"] == (
        f"/communications/calls/{call_id}/contentsharingsessions"
    )
    assert ids(created["resourceData"]) == [session_id]
    assert deleted["changeType"] == "deleted"
    assert ids(deleted["resourceData"]) == [session_id]


async def test_content_sharing_adds_media_stream(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    await emulator.start_screen_sharing(call_id, participant_id)
    roster = (await receiver.rosters(call_id, 2))[1]

    sharer = {p["id"]: p for p in roster}[participant_id]
    labels = [stream["label"] for stream in sharer["mediaStreams"]]
    assert labels == ["main-audio", "applicationsharing-video"]


async def test_content_sharing_silent_when_disabled(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call()
    participant_id = (await graph.other_ids(call_id))[0]

    await emulator.start_screen_sharing(call_id, participant_id)
    await emulator.stop_screen_sharing(call_id, participant_id)
    async with asyncio.timeout(WAIT_TIMEOUT):
        await emulator.drain_notifications()

    assert receiver.matching("/contentsharingsessions") == []


async def test_leaving_sharer_ends_session(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.group_call(
        callOptions={
            "@odata.type": "#microsoft.graph.outgoingCallOptions",
            "isContentSharingNotificationEnabled": True,
        }
    )
    participant_id = (await graph.other_ids(call_id))[0]

    await emulator.start_screen_sharing(call_id, participant_id)
    await emulator.leave_participant(call_id, participant_id)
    entries = await receiver.wait_for("/contentsharingsessions", 2)

    assert entries[1]["changeType"] == "deleted"
    listed = await graph.request(
        "GET", f"/communications/calls/{call_id}/contentSharingSessions"
    )
    assert listed.body["value"] == []


async def test_unknown_content_sharing_session_is_404(graph: Graph) -> None:
    call_id = await graph.group_call()

    reply = await graph.request(
        "GET", f"/communications/calls/{call_id}/contentSharingSessions/nope"
    )

    assert reply.status == 404
    assert reply.body["error"]["code"] == "itemNotFound"
