"""The call state machine: the call actions of the Graph API and the far side.

Outgoing calls: create -> establishing -> (establish_delay) established. DELETE ->
terminating -> (terminate_delay) terminated, `deleted` with 200/5001.

Incoming calls (rung through the simulation API): incoming, announced by a `created`
notification. answer -> establishing -> (establish_delay) established. reject or
redirect -> terminated at once, `deleted` without resultInfo. No answer, reject or
redirect within incoming_call_timeout -> terminated, `deleted` with 408/1106.

Transfer: established -> transferring -> transferAccepted -> terminated with
200/7015, one transfer_delay between steps. A hang-up from the far side ends any
live call with 200/4521, and a call without keepAlive for keep_alive_timeout ends
with 408/8537.

A request on a call in a state that does not allow it gets 409 `notAllowed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from calls_async.testing import _state, _validation, _wire
from calls_async.testing._errors import EmulatorError
from calls_async.testing._operations import OperationActions
from calls_async.testing._participants import ParticipantActions
from calls_async.testing._registry import CallRegistry
from calls_async.testing._state import CONTROLLABLE_STATES, Call, require_state
from calls_async.testing._wire import GraphError, JsonObject


class CallActions:
    """Carries out the call-level Graph actions and the far-side simulation."""

    def __init__(
        self,
        registry: CallRegistry,
        operations: OperationActions,
        participants: ParticipantActions,
    ) -> None:
        self._registry = registry
        self._operations = operations
        self._participants = participants
        self._settings = registry.settings

    def create(self, body: object) -> Call:
        request = _validation.validate_create_call(body)
        call = Call(
            direction="outgoing",
            state=_state.ESTABLISHING,
            callback_uri=request["callbackUri"],
            tenant_id=request.get("tenantId") or self._settings.tenant_id,
            source=request.get("source") or self._bot_participant(),
            targets=request.get("targets") or [],
            media_config=request["mediaConfig"],
            requested_modalities=request.get("requestedModalities") or [],
            call_options=request.get("callOptions"),
            chat_info=request.get("chatInfo"),
            meeting_info=request.get("meetingInfo"),
            subject=request.get("subject"),
        )
        self._participants.seat_outgoing(call)
        self._registry.add(call)
        self._registry.stats.calls_created += 1

        self._registry.notify_call(call, "updated")
        self._start_establishing(call)
        return call

    def hang_up(self, call_id: str) -> None:
        call = self._registry.find(call_id)
        if call.state == _state.TERMINATING:
            return

        call.cancel_timers()
        call.media_queue.clear()
        call.running_media = None
        self._registry.set_state(call, _state.TERMINATING)
        self._registry.notify_call(call, "updated")
        self._registry.schedule(
            call,
            self._settings.terminate_delay,
            lambda: self._registry.end_call(call, _wire.ENDED_BY_BOT),
        )

    def answer(self, call_id: str, body: object) -> None:
        request = _validation.validate_answer(body)
        call = self._registry.find(call_id)
        require_state(call, "answer", frozenset({_state.INCOMING}))

        call.cancel_timers()
        call.callback_uri = request["callbackUri"]
        call.media_config = request["mediaConfig"]
        call.requested_modalities = request["acceptedModalities"]
        call.call_options = request.get("callOptions")
        self._registry.set_state(call, _state.ESTABLISHING)
        self._registry.notify_call(call, "updated")
        self._start_establishing(call)

    def reject(self, call_id: str, body: object) -> None:
        request = _validation.validate_reject(body)
        call = self._registry.find(call_id)
        require_state(call, "reject", frozenset({_state.INCOMING}))

        if request.get("callbackUri"):
            call.callback_uri = request["callbackUri"]
        self._registry.end_call(call, None)

    def redirect(self, call_id: str, body: object) -> None:
        request = _validation.validate_redirect(body)
        call = self._registry.find(call_id)
        require_state(call, "redirect", frozenset({_state.INCOMING}))

        if request.get("callbackUri"):
            call.callback_uri = request["callbackUri"]
        self._registry.end_call(call, None)

    def transfer(self, call_id: str, body: object) -> None:
        _validation.validate_transfer(body)
        call = self._registry.find(call_id)
        require_state(call, "transfer", frozenset({_state.ESTABLISHED}))

        self._move_to(call, _state.TRANSFERRING)
        self._registry.schedule(
            call, self._settings.transfer_delay, lambda: self._accept_transfer(call)
        )

    def keep_alive(self, call_id: str) -> None:
        call = self._registry.find(call_id)
        if call.state != _state.INCOMING:
            self._arm_keep_alive(call)

    def change_screen_sharing_role(self, call_id: str, body: object) -> None:
        role = _validation.validate_change_screen_sharing_role(body)
        call = self._registry.find(call_id)
        require_state(call, "changeScreenSharingRole", CONTROLLABLE_STATES)
        call.screen_sharing_role = role

    def ring(
        self,
        callback_uri: str,
        *,
        caller: Mapping[str, Any] | None = None,
        group: bool = False,
        modalities: Sequence[str] = ("audio",),
        answer_timeout: float | None = None,
    ) -> Call:
        """Create an incoming call to the bot and queue its `created` notification."""
        try:
            _validation.check_callback_uri(callback_uri, "callback_uri")
        except GraphError as err:
            raise EmulatorError(400, err.message) from None
        unknown = [m for m in modalities if m not in _wire.MODALITIES]
        if unknown:
            raise EmulatorError(400, f"unknown modalities {unknown!r}")

        call = self._new_incoming_call(callback_uri, caller, group, list(modalities))
        self._participants.seat_incoming(call)
        self._registry.add(call)
        self._registry.stats.calls_rung += 1
        self._registry.notify_call(call, "created")
        timeout = self._settings.incoming_call_timeout
        if answer_timeout is not None:
            timeout = answer_timeout
        self._registry.schedule(
            call,
            timeout,
            lambda: self._registry.end_call(call, _wire.ANSWER_TIMED_OUT),
        )
        return call

    def press_tones(self, call_id: str, tones: Sequence[str]) -> None:
        """Send one `updated` notification with toneInfo per tone pressed."""
        call = self._find_for_simulation(call_id)
        invalid = [tone for tone in tones if not _validation.is_valid_tone(tone)]
        if invalid:
            raise EmulatorError(
                400,
                f"invalid tones {invalid!r}: expected tone0..tone9, star, pound, "
                "a, b, c, d or flash",
            )
        if call.state != _state.ESTABLISHED:
            raise EmulatorError(
                409, f"call {call.id} is {call.state}; tones need an established call"
            )
        if not call.tones_subscribed:
            raise EmulatorError(
                409, f"call {call.id} has not subscribed to tones (subscribeToTone)"
            )

        for tone in tones:
            call.tone_sequence_id += 1
            call.tone_info = {
                "@odata.type": "#microsoft.graph.toneInfo",
                "sequenceId": call.tone_sequence_id,
                "tone": tone,
            }
            self._registry.notify_call(call, "updated")

    def hang_up_remote(self, call_id: str) -> None:
        call = self._find_for_simulation(call_id)
        self._registry.end_call(call, _wire.ENDED_BY_REMOTE)

    def _find_for_simulation(self, call_id: str) -> Call:
        call = self._registry.get(call_id)
        if call is None:
            raise EmulatorError(404, f"call {call_id} was not found or has ended")
        return call

    def _start_establishing(self, call: Call) -> None:
        self._registry.schedule(
            call, self._settings.establish_delay, lambda: self._establish(call)
        )
        self._arm_keep_alive(call)

    def _establish(self, call: Call) -> None:
        self._move_to(call, _state.ESTABLISHED)
        self._participants.announce(call)
        self._operations.start_next_media(call)

    def _accept_transfer(self, call: Call) -> None:
        self._move_to(call, _state.TRANSFER_ACCEPTED)
        self._registry.schedule(
            call,
            self._settings.transfer_delay,
            lambda: self._registry.end_call(call, _wire.TRANSFER_COMPLETED),
        )

    def _move_to(self, call: Call, state: str) -> None:
        self._registry.set_state(call, state)
        self._registry.notify_call(call, "updated")

    def _arm_keep_alive(self, call: Call) -> None:
        if call.keep_alive_timer is not None:
            call.keep_alive_timer.cancel()
            call.timers.discard(call.keep_alive_timer)
        call.keep_alive_timer = self._registry.schedule(
            call,
            self._settings.keep_alive_timeout,
            lambda: self._registry.end_call(call, _wire.KEEP_ALIVE_EXPIRED),
        )

    def _bot_identity(self) -> JsonObject:
        return {
            "@odata.type": "#microsoft.graph.identitySet",
            "application": {
                "@odata.type": "#microsoft.graph.identity",
                "id": self._settings.app_id,
                "displayName": self._settings.app_display_name,
            },
        }

    def _bot_participant(self) -> JsonObject:
        return {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": self._bot_identity(),
            "countryCode": None,
            "endpointType": None,
            "region": None,
            "languageId": None,
        }

    def _new_incoming_call(
        self,
        callback_uri: str,
        caller: Mapping[str, Any] | None,
        group: bool,
        modalities: list[str],
    ) -> Call:
        tenant_id = self._settings.tenant_id
        if caller is None:
            caller = {
                "user": {
                    "@odata.type": "#microsoft.graph.identity",
                    "id": _state.new_id(),
                    "displayName": "Emulated Caller",
                    "tenantId": tenant_id,
                }
            }
        caller_identity = {"@odata.type": "#microsoft.graph.identitySet", **caller}
        caller_participant_id = _state.new_id()
        call = Call(
            direction="incoming",
            state=_state.INCOMING,
            callback_uri=callback_uri,
            tenant_id=tenant_id,
            source={
                "@odata.type": "#microsoft.graph.participantInfo",
                "identity": caller_identity,
                "participantId": caller_participant_id,
                "endpointType": "default",
                "region": "amer",
                "languageId": "en-US",
            },
            targets=[
                {
                    "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                    "identity": self._bot_identity(),
                }
            ],
            requested_modalities=modalities,
            incoming_context={
                "@odata.type": "#microsoft.graph.incomingContext",
                "sourceParticipantId": caller_participant_id,
                "observedParticipantId": None,
                "onBehalfOf": None,
                "transferor": None,
            },
        )
        if group:
            thread_key = call.call_chain_id.replace("-", "")
            call.chat_info = {
                "@odata.type": "#microsoft.graph.chatInfo",
                "threadId": f"19:meeting_{thread_key}@thread.v2",
                "messageId": "0",
                "replyChainMessageId": None,
            }
            call.meeting_info = {
                "@odata.type": "#microsoft.graph.organizerMeetingInfo",
                "organizer": caller_identity,
            }
        return call
