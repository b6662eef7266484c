"""The call actions that return a commsOperation, and the media queue.

mute, unmute, cancelMediaProcessing, subscribeToTone and updateRecordingStatus are
completed in their response, so no operation notification follows them. mute and
unmute change the bot's participant, which a group call reports in the roster.
playPrompt, recordResponse, sendDtmfTones and addLargeGalleryView answer `running`
and finish later with a `deleted` notification on the operation.

playPrompt and recordResponse share one FIFO queue per call and run one at a time,
and only while the call is established. cancelMediaProcessing fails the running
operation and every queued one. A recordResponse with bargeInAllowed goes to the
front of the queue and fails the running operation the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from calls_async.testing import _state, _validation, _wire
from calls_async.testing._participants import ParticipantActions
from calls_async.testing._recordings import RecordingStore
from calls_async.testing._registry import CallRegistry
from calls_async.testing._state import Call, Operation
from calls_async.testing._wire import GraphError

# Operation subtypes by the action that returns them.
OPERATION_ACTIONS = {
    "mute": "muteParticipantOperation",
    "unmute": "unmuteParticipantOperation",
    "playPrompt": _state.PLAY_PROMPT,
    "recordResponse": _state.RECORD,
    "cancelMediaProcessing": "cancelMediaProcessingOperation",
    "subscribeToTone": "subscribeToToneOperation",
    "sendDtmfTones": _state.SEND_DTMF_TONES,
    "updateRecordingStatus": "updateRecordingStatusOperation",
    "addLargeGalleryView": "addLargeGalleryViewOperation",
}


class OperationActions:
    """Starts, runs and finishes the operations of calls."""

    def __init__(
        self,
        registry: CallRegistry,
        recordings: RecordingStore,
        recording_url: Callable[[str], str],
        participants: ParticipantActions,
    ) -> None:
        self._registry = registry
        self._participants = participants
        self._settings = registry.settings
        self._recordings = recordings
        self._recording_url = recording_url
        self._starters: dict[str, Callable[[str, object], Operation]] = {
            "mute": self._mute,
            "unmute": self._unmute,
            "playPrompt": self._play_prompt,
            "recordResponse": self._record_response,
            "cancelMediaProcessing": self._cancel_media_processing,
            "subscribeToTone": self._subscribe_to_tone,
            "sendDtmfTones": self._send_dtmf_tones,
            "updateRecordingStatus": self._update_recording_status,
            "addLargeGalleryView": self._add_large_gallery_view,
        }

    def start(self, action: str, call_id: str, body: object) -> Operation:
        """Carry out an operation action; `action` is a key of OPERATION_ACTIONS."""
        return self._starters[action](call_id, body)

    def find(self, call_id: str, operation_id: str) -> Operation:
        call = self._registry.find(call_id)
        operation = call.operations.get(operation_id.lower())
        if operation is None:
            raise GraphError(
                404,
                "itemNotFound",
                f"Operation '{operation_id}' was not found on call '{call.id}'.",
            )
        return operation

    def start_next_media(self, call: Call) -> None:
        """Start the next queued media operation if the call can play media now."""
        if call.running_media is not None or not call.media_queue:
            return
        if call.state != _state.ESTABLISHED:
            return

        operation = call.media_queue.popleft()
        call.running_media = operation
        call.media_timer = self._registry.schedule(
            call, operation.duration, lambda: self._finish_media(call, operation)
        )

    def _mute(self, call_id: str, body: object) -> Operation:
        operation = self._completed_at_once("mute", call_id, body)
        self._participants.set_bot_muted(self._registry.find(call_id), True)
        return operation

    def _unmute(self, call_id: str, body: object) -> Operation:
        operation = self._completed_at_once("unmute", call_id, body)
        self._participants.set_bot_muted(self._registry.find(call_id), False)
        return operation

    def _subscribe_to_tone(self, call_id: str, body: object) -> Operation:
        client_context = _validation.validate_client_context_only(body)
        call = self._media_call(call_id, "subscribeToTone")
        call.tones_subscribed = True
        return self._new_operation(call, "subscribeToTone", client_context)

    def _update_recording_status(self, call_id: str, body: object) -> Operation:
        client_context, status = _validation.validate_update_recording_status(body)
        call = self._controllable_call(call_id, "updateRecordingStatus")
        call.recording_status = status
        return self._new_operation(call, "updateRecordingStatus", client_context)

    def _cancel_media_processing(self, call_id: str, body: object) -> Operation:
        operation = self._completed_at_once("cancelMediaProcessing", call_id, body)
        call = self._registry.find(call_id)
        cancelled = list(call.media_queue)
        call.media_queue.clear()
        if call.running_media is not None:
            cancelled.insert(0, call.running_media)
            self._stop_running_media(call)
        for media_operation in cancelled:
            self._fail_cancelled(call, media_operation)
        return operation

    def _play_prompt(self, call_id: str, body: object) -> Operation:
        client_context, prompt_count = _validation.validate_play_prompt(body)
        call = self._media_call(call_id, "playPrompt")
        operation = self._new_operation(
            call, "playPrompt", client_context, status=_state.RUNNING
        )
        operation.duration = prompt_count * self._settings.prompt_duration
        call.media_queue.append(operation)
        self.start_next_media(call)
        return operation

    def _record_response(self, call_id: str, body: object) -> Operation:
        client_context, prompt_count, barge_in = _validation.validate_record_response(
            body
        )
        call = self._media_call(call_id, "recordResponse")
        operation = self._new_operation(
            call, "recordResponse", client_context, status=_state.RUNNING
        )
        operation.duration = (
            prompt_count * self._settings.prompt_duration
            + self._settings.record_duration
        )
        if barge_in:
            interrupted = call.running_media
            if interrupted is not None:
                self._stop_running_media(call)
                self._fail_cancelled(call, interrupted)
            call.media_queue.appendleft(operation)
        else:
            call.media_queue.append(operation)
        self.start_next_media(call)
        return operation

    def _send_dtmf_tones(self, call_id: str, body: object) -> Operation:
        client_context, _tones = _validation.validate_send_dtmf_tones(body)
        call = self._controllable_call(call_id, "sendDtmfTones")
        operation = self._new_operation(
            call, "sendDtmfTones", client_context, status=_state.RUNNING
        )
        self._finish_later(call, operation, completionReason="completedSuccessfully")
        return operation

    def _add_large_gallery_view(self, call_id: str, body: object) -> Operation:
        client_context = _validation.validate_client_context_only(body)
        call = self._controllable_call(call_id, "addLargeGalleryView")
        operation = self._new_operation(
            call, "addLargeGalleryView", client_context, status=_state.RUNNING
        )
        self._finish_later(call, operation)
        return operation

    def _completed_at_once(self, action: str, call_id: str, body: object) -> Operation:
        client_context = _validation.validate_client_context_only(body)
        call = self._controllable_call(call_id, action)
        return self._new_operation(call, action, client_context)

    def _controllable_call(self, call_id: str, action: str) -> Call:
        call = self._registry.find(call_id)
        _state.require_state(call, action, _state.CONTROLLABLE_STATES)
        return call

    def _media_call(self, call_id: str, action: str) -> Call:
        call = self._controllable_call(call_id, action)
        self._require_service_hosted_media(call, action)
        return call

    @staticmethod
    def _require_service_hosted_media(call: Call, action: str) -> None:
        if not call.is_service_hosted:
            raise _wire.invalid_request(
                f"{action} requires a call with serviceHostedMediaConfig; call "
                f"'{call.id}' uses {(call.media_config or {}).get('@odata.type')}."
            )

    def _new_operation(
        self,
        call: Call,
        action: str,
        client_context: str | None,
        status: str = _state.COMPLETED,
    ) -> Operation:
        return self._registry.add_operation(
            call, OPERATION_ACTIONS[action], client_context, status
        )

    def _finish_later(
        self, call: Call, operation: Operation, **subtype_fields: object
    ) -> None:
        def finish() -> None:
            operation.finish(_state.COMPLETED, _wire.PROMPT_COMPLETED, **subtype_fields)
            self._registry.notify_operation(call, operation)

        self._registry.schedule(call, self._settings.operation_delay, finish)

    def _finish_media(self, call: Call, operation: Operation) -> None:
        call.running_media = None
        call.media_timer = None
        if operation.subtype == _state.RECORD:
            recording_id, token = self._recordings.create()
            operation.finish(
                _state.COMPLETED,
                _wire.RECORD_COMPLETED,
                recordingLocation=self._recording_url(recording_id),
                recordingAccessToken=token,
            )
        else:
            operation.finish(_state.COMPLETED, _wire.PROMPT_COMPLETED)
        self._registry.notify_operation(call, operation)
        self.start_next_media(call)

    def _stop_running_media(self, call: Call) -> None:
        if call.media_timer is not None:
            call.media_timer.cancel()
            call.timers.discard(call.media_timer)
        call.media_timer = None
        call.running_media = None

    def _fail_cancelled(self, call: Call, operation: Operation) -> None:
        if operation.subtype == _state.RECORD:
            operation.finish(
                _state.FAILED,
                _wire.OPERATION_CANCELLED,
                recordingLocation="",
                recordingAccessToken="",
            )
        else:
            operation.finish(_state.FAILED, _wire.OPERATION_CANCELLED)
        self._registry.notify_operation(call, operation)
