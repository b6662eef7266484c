"""Participants of calls: rosters, invitations, mute, hold music, screen sharing.

Rosters. A peer-to-peer call has the bot and the other party. A group call created
with targets has the bot and every target. A meeting (a create with meetingInfo,
or a call rung with group=True) has the bot, `meeting_attendees` attendees and
`meeting_lobby_attendees` attendees waiting in the lobby, plus the caller of a rung
call. For an organizerMeetingInfo join the first attendee is the organizer.

Roster notifications. Only group calls and meetings send them, because the
reference states that peer-to-peer calls get call-state notifications only. The
first one goes out once the call is established and lists everyone. After it,
every join, leave, mute, lobby admission and screen-sharing change sends an
`updated` notification on `/communications/calls/{id}/participants`. Its
resourceData is the full roster, or with callOptions.isDeltaRosterEnabled a
deltaParticipants object with the changed participants only.

Invitations. An invite responds with an inviteParticipantsOperation in status
`Running`, capitalised as the service does. After `invite_delay` each invitee
joins, or fails if an id in its identity starts with `invite_timeout_prefix`
(408/10057) or `invite_unreachable_prefix` (480/10076). The operation then
completes with 200/0, or fails with the resultInfo of its first failed invitee.
Deleting a pending invitee cancels it with 400/8508.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calls_async.testing import _state, _validation, _wire
from calls_async.testing._errors import EmulatorError
from calls_async.testing._registry import CallRegistry
from calls_async.testing._roster import (
    ContentSharingSession,
    Invitation,
    Invitee,
    Participant,
    identity_ids,
    identity_set,
)
from calls_async.testing._state import CONTROLLABLE_STATES, Call, Operation
from calls_async.testing._wire import GraphError, JsonObject, invalid_request

INVITE_OPERATION = "inviteParticipantsOperation"
MUTE_OPERATION = "muteParticipantOperation"
START_HOLD_MUSIC_OPERATION = "startHoldMusicOperation"
STOP_HOLD_MUSIC_OPERATION = "stopHoldMusicOperation"
# The invite response spells the status capitalised, unlike other operations.
INVITE_RUNNING = "Running"

# removedState reasons; the reference documents the property but no values.
REMOVED_BY_BOT = "Removed from the call by the application."
LEFT_CALL = "Left the call."

DELTA_ROSTER_OPTION = "isDeltaRosterEnabled"
CONTENT_SHARING_OPTION = "isContentSharingNotificationEnabled"


class ParticipantActions:
    """Carries out the participant actions and the roster simulation."""

    def __init__(self, registry: CallRegistry) -> None:
        self._registry = registry
        self._settings = registry.settings

    # Rosters of new calls.

    def seat_outgoing(self, call: Call) -> None:
        """Fill the roster of a call the bot created: itself, targets, attendees."""
        roster = call.roster
        roster.add(
            call.source["identity"],
            participant_id=call.my_participant_id,
            is_bot=True,
        )
        for target in call.targets:
            requested = target.get("participantId")
            usable = isinstance(requested, str) and not roster.has_id(requested)
            roster.add(target["identity"], participant_id=requested if usable else None)
        if call.meeting_info is not None:
            organizer = call.meeting_info.get("organizer")
            self._seat_attendees(
                call, organizer if isinstance(organizer, dict) else None
            )
        roster.stamp(roster.participants.values())

    def seat_incoming(self, call: Call) -> None:
        """Fill the roster of a rung call: the bot, the caller and any attendees."""
        roster = call.roster
        roster.add(
            call.targets[0]["identity"],
            participant_id=call.my_participant_id,
            is_bot=True,
        )
        roster.add(
            call.source["identity"], participant_id=call.source.get("participantId")
        )
        if call.is_group:
            self._seat_attendees(call, None)
        roster.stamp(roster.participants.values())

    def announce(self, call: Call) -> None:
        """Send the first roster notification, once the call is established."""
        if call.roster.announced:
            return
        call.roster.announced = True
        self._notify_roster(call, list(call.roster.participants.values()))

    # Graph actions.

    def find_participant(self, call: Call, participant_id: str) -> Participant:
        participant = call.roster.get(participant_id)
        if participant is None:
            raise GraphError(
                404,
                "itemNotFound",
                f"Participant '{participant_id}' was not found in call '{call.id}'.",
            )
        return participant

    def invite(self, call_id: str, body: object) -> Operation:
        client_context, requested = _validation.validate_invite(body)
        call = self._controllable_call(call_id, "invite")
        if not call.is_group:
            raise invalid_request(
                f"invite requires a group call or a meeting; call '{call.id}' is a "
                "peer-to-peer call. Create a call with 2 to 5 targets, or join a "
                "meeting, to invite participants."
            )
        if len(requested) > 1 and call.chat_info is None:
            raise invalid_request(
                f"Inviting {len(requested)} participants at once requires a call "
                f"with chatInfo, and call '{call.id}' has none. Invite one "
                "participant per request."
            )

        invitees = self._new_invitees(call, requested)
        operation = self._registry.add_operation(
            call, INVITE_OPERATION, client_context, INVITE_RUNNING
        )
        operation.subtype_fields["participants"] = [
            {
                "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                **item,
                "identity": identity_set(item["identity"]),
                "participantId": invitee.participant_id,
            }
            for item, invitee in zip(requested, invitees, strict=True)
        ]
        invitation = Invitation(operation, invitees)
        for invitee in invitees:
            call.roster.invitees[invitee.participant_id.lower()] = (invitation, invitee)
        self._registry.schedule(
            call,
            self._settings.invite_delay,
            lambda: self._settle_invitation(call, invitation),
        )
        return operation

    def mute(self, call_id: str, participant_id: str, body: object) -> Operation:
        client_context = _validation.validate_client_context_only(body)
        call = self._controllable_call(call_id, "mute")
        participant = self.find_participant(call, participant_id)
        if not call.is_group and not participant.is_bot:
            raise invalid_request(
                f"Muting another participant requires a group call or a meeting; "
                f"call '{call.id}' is a peer-to-peer call."
            )
        operation = self._registry.add_operation(
            call, MUTE_OPERATION, client_context, _state.COMPLETED
        )
        self._set_server_muted(call, participant, True)
        return operation

    def set_bot_muted(self, call: Call, muted: bool) -> None:
        """Apply the call's own mute or unmute to the bot's participant."""
        bot = call.roster.get(call.my_participant_id)
        if bot is not None:
            self._set_server_muted(call, bot, muted)

    def start_hold_music(
        self, call_id: str, participant_id: str, body: object
    ) -> Operation:
        client_context = _validation.validate_start_hold_music(body)
        call = self._controllable_call(call_id, "startHoldMusic")
        participant = self._holdable_participant(call, participant_id, "startHoldMusic")
        held = call.roster.held_participant()
        if held is not None:
            raise GraphError(
                409,
                "notAllowed",
                f"startHoldMusic is not allowed: participant '{held.id}' is already "
                "on hold, and only one participant may be on hold at a time. Send "
                "stopHoldMusic for it first.",
            )
        participant.on_hold = True
        return self._hold_operation(call, START_HOLD_MUSIC_OPERATION, client_context)

    def stop_hold_music(
        self, call_id: str, participant_id: str, body: object
    ) -> Operation:
        client_context = _validation.validate_client_context_only(body)
        call = self._controllable_call(call_id, "stopHoldMusic")
        participant = self._holdable_participant(call, participant_id, "stopHoldMusic")
        if not participant.on_hold:
            raise GraphError(
                409,
                "notAllowed",
                f"stopHoldMusic is not allowed: participant '{participant.id}' is not "
                "on hold.",
            )
        participant.on_hold = False
        return self._hold_operation(call, STOP_HOLD_MUSIC_OPERATION, client_context)

    def remove(self, call_id: str, participant_id: str) -> None:
        """Remove a participant, or cancel the invitation of a pending invitee."""
        call = self._controllable_call(call_id, "DELETE participant")
        pending = call.roster.invitees.get(participant_id.lower())
        if pending is not None:
            self._cancel_invitee(call, *pending)
            return
        participant = self.find_participant(call, participant_id)
        if participant.is_bot:
            raise invalid_request(
                "The bot's own participant cannot be removed; DELETE "
                f"/communications/calls/{call.id} to leave the call."
            )
        self._remove(call, participant, REMOVED_BY_BOT)

    # Simulation of the other participants.

    def join(
        self,
        call_id: str,
        *,
        identity: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        in_lobby: bool = False,
        muted: bool = False,
        participant_id: str | None = None,
    ) -> Participant:
        call = self._simulated_call(call_id)
        if participant_id is not None and call.roster.has_id(participant_id):
            raise EmulatorError(
                409, f"participant {participant_id} is already in call {call.id}"
            )
        if identity is None:
            identity = _user(display_name or "Emulated Participant", call.tenant_id)
        elif not isinstance(identity, Mapping) or not identity:
            raise EmulatorError(400, "'identity' must be a non-empty identitySet")
        participant = call.roster.add(
            identity, participant_id=participant_id, in_lobby=in_lobby, muted=muted
        )
        self._publish(call, [participant])
        return participant

    def leave(self, call_id: str, participant_id: str) -> None:
        call = self._simulated_call(call_id)
        participant = self._simulated_participant(call, participant_id)
        if participant.is_bot:
            raise EmulatorError(
                400,
                "the bot's own participant cannot leave; end the call with "
                "hang_up_remote() or DELETE instead",
            )
        self._remove(call, participant, LEFT_CALL)

    def admit(self, call_id: str, participant_id: str) -> None:
        call = self._simulated_call(call_id)
        participant = self._simulated_participant(call, participant_id)
        if not participant.is_in_lobby:
            raise EmulatorError(
                409, f"participant {participant.id} is not waiting in the lobby"
            )
        participant.is_in_lobby = False
        self._publish(call, [participant])

    def start_screen_sharing(
        self, call_id: str, participant_id: str
    ) -> ContentSharingSession:
        call = self._simulated_call(call_id)
        participant = self._simulated_participant(call, participant_id)
        if participant.is_in_lobby:
            raise EmulatorError(
                409, f"participant {participant.id} is in the lobby and cannot share"
            )
        if participant.sharing_session_id is not None:
            raise EmulatorError(
                409, f"participant {participant.id} is already sharing its screen"
            )
        session = ContentSharingSession(_state.new_id(), participant.id)
        call.content_sharing_sessions[session.id.lower()] = session
        participant.sharing_session_id = session.id
        self._notify_content_sharing(call, "created", session)
        self._publish(call, [participant])
        return session

    def stop_screen_sharing(self, call_id: str, participant_id: str) -> None:
        call = self._simulated_call(call_id)
        participant = self._simulated_participant(call, participant_id)
        if participant.sharing_session_id is None:
            raise EmulatorError(
                409, f"participant {participant.id} is not sharing its screen"
            )
        self._end_screen_sharing(call, participant)
        self._publish(call, [participant])

    # Helpers.

    def _seat_attendees(self, call: Call, organizer: JsonObject | None) -> None:
        for number in range(1, self._settings.meeting_attendees + 1):
            identity = organizer
            if number > 1 or identity is None:
                identity = _user(f"Attendee {number}", call.tenant_id)
            call.roster.add(identity)
        for number in range(1, self._settings.meeting_lobby_attendees + 1):
            call.roster.add(_user(f"Lobby Guest {number}", None), in_lobby=True)

    def _new_invitees(self, call: Call, requested: list[JsonObject]) -> list[Invitee]:
        invitees: list[Invitee] = []
        chosen_ids: set[str] = set()
        for index, item in enumerate(requested):
            participant_id = item.get("participantId") or _state.new_id()
            if call.roster.has_id(participant_id) or participant_id.lower() in (
                chosen_ids
            ):
                raise GraphError(
                    409,
                    "notAllowed",
                    f"Invalid value for 'participants[{index}].participantId': "
                    f"'{participant_id}' is already used in call '{call.id}'.",
                )
            chosen_ids.add(participant_id.lower())
            invitees.append(
                Invitee(participant_id, item["identity"], item.get("replacesCallId"))
            )
        return invitees

    def _settle_invitation(self, call: Call, invitation: Invitation) -> None:
        joined: list[Participant] = []
        for invitee in invitation.invitees:
            if invitee.settled:
                continue
            invitee.settled = True
            call.roster.invitees.pop(invitee.participant_id.lower(), None)
            invitee.failure = self._invite_failure(invitee.identity)
            if invitee.failure is not None:
                continue
            joined.append(
                call.roster.add(invitee.identity, participant_id=invitee.participant_id)
            )
            self._end_replaced_call(call, invitee.replaces_call_id)
        if joined:
            self._publish(call, joined)
        self._finish_invitation(call, invitation)

    def _invite_failure(self, identity: JsonObject) -> tuple[int, int, str] | None:
        ids = [value.lower() for value in identity_ids(identity)]
        markers = (
            (self._settings.invite_timeout_prefix, _wire.INVITE_TIMED_OUT),
            (self._settings.invite_unreachable_prefix, _wire.INVITE_UNREACHABLE),
        )
        for prefix, result in markers:
            if prefix and any(value.startswith(prefix.lower()) for value in ids):
                return result
        return None

    def _end_replaced_call(self, call: Call, replaces_call_id: str | None) -> None:
        if replaces_call_id is None:
            return
        replaced = self._registry.get(replaces_call_id)
        if replaced is not None and replaced is not call:
            self._registry.end_call(replaced, _wire.CALL_REPLACED)

    def _cancel_invitee(
        self, call: Call, invitation: Invitation, invitee: Invitee
    ) -> None:
        invitee.settled = True
        invitee.failure = _wire.OPERATION_CANCELLED
        call.roster.invitees.pop(invitee.participant_id.lower(), None)
        if invitation.is_settled:
            self._finish_invitation(call, invitation)

    def _finish_invitation(self, call: Call, invitation: Invitation) -> None:
        operation = invitation.operation
        if operation.is_finished:
            return
        failures = [i.failure for i in invitation.invitees if i.failure is not None]
        if failures:
            operation.finish(_state.FAILED, failures[0])
        else:
            operation.finish(_state.COMPLETED, _wire.ACTION_COMPLETED)
        self._registry.notify_operation(call, operation)

    def _hold_operation(
        self, call: Call, subtype: str, client_context: str | None
    ) -> Operation:
        operation = self._registry.add_operation(
            call, subtype, client_context, _state.RUNNING
        )

        def finish() -> None:
            operation.finish(_state.COMPLETED, _wire.ACTION_COMPLETED)
            self._registry.notify_operation(call, operation)

        self._registry.schedule(call, self._settings.operation_delay, finish)
        return operation

    def _holdable_participant(
        self, call: Call, participant_id: str, action: str
    ) -> Participant:
        participant = self.find_participant(call, participant_id)
        if participant.is_bot:
            raise invalid_request(
                f"{action} applies to other participants, not to the bot's own "
                f"participant '{participant.id}'."
            )
        if participant.is_in_lobby:
            raise GraphError(
                409,
                "notAllowed",
                f"{action} is not allowed: participant '{participant.id}' is waiting "
                "in the lobby.",
            )
        return participant

    def _set_server_muted(
        self, call: Call, participant: Participant, muted: bool
    ) -> None:
        if participant.server_muted != muted:
            participant.server_muted = muted
            self._publish(call, [participant])

    def _remove(self, call: Call, participant: Participant, reason: str) -> None:
        if participant.sharing_session_id is not None:
            self._end_screen_sharing(call, participant)
        participant.on_hold = False
        call.roster.remove(participant, reason)
        self._publish(call, [participant])

    def _end_screen_sharing(self, call: Call, participant: Participant) -> None:
        session_id = participant.sharing_session_id
        participant.sharing_session_id = None
        if session_id is None:
            return
        session = call.content_sharing_sessions.pop(session_id.lower(), None)
        if session is not None:
            self._notify_content_sharing(call, "deleted", session)

    def _notify_content_sharing(
        self, call: Call, change_type: str, session: ContentSharingSession
    ) -> None:
        if not call.has_option(CONTENT_SHARING_OPTION):
            return
        # The reference's examples spell this resource URL in lower case.
        self._registry.notify_resource(
            call,
            change_type,
            f"{call.path}/contentsharingsessions",
            [session.resource()],
        )

    def _publish(self, call: Call, changed: list[Participant]) -> None:
        """Number a roster change and notify the bot of it when it should hear."""
        call.roster.stamp(changed)
        self._notify_roster(call, changed)

    def _notify_roster(self, call: Call, changed: list[Participant]) -> None:
        roster = call.roster
        if not call.is_group or not roster.announced:
            return
        resource_data: JsonObject | list[JsonObject]
        if call.has_option(DELTA_ROSTER_OPTION):
            # NOTE: the reference shows no delta roster notification. This shape,
            # a deltaParticipants object in place of the array, is inferred from
            # the deltaParticipants type.
            resource_data = {
                "@odata.type": "#microsoft.graph.deltaParticipants",
                "sequenceNumber": roster.sequence_number,
                "participants": [participant.resource() for participant in changed],
            }
        else:
            resource_data = roster.resources()
        self._registry.notify_resource(
            call, "updated", f"{call.path}/participants", resource_data
        )

    def _controllable_call(self, call_id: str, action: str) -> Call:
        call = self._registry.find(call_id)
        _state.require_state(call, action, CONTROLLABLE_STATES)
        return call

    def _simulated_call(self, call_id: str) -> Call:
        call = self._registry.get(call_id)
        if call is None:
            raise EmulatorError(404, f"call {call_id} was not found or has ended")
        return call

    @staticmethod
    def _simulated_participant(call: Call, participant_id: str) -> Participant:
        participant = call.roster.get(participant_id)
        if participant is None:
            raise EmulatorError(
                404, f"participant {participant_id} was not found in call {call.id}"
            )
        return participant


def _user(display_name: str, tenant_id: str | None) -> JsonObject:
    user: JsonObject = {
        "@odata.type": "#microsoft.graph.identity",
        "id": _state.new_id(),
        "displayName": display_name,
    }
    if tenant_id is not None:
        user["tenantId"] = tenant_id
    return {"user": user}
