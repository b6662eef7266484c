"""The call resource: :class:`Call` handles and the :class:`CallCollection`.

A :class:`Call` is a cheap reference to one call id. Each method sends one request
when awaited and returns when the service has replied; nothing is queued. The
collection keeps one :class:`Call` object per live call id (compared without case),
so a handle from ``client.calls[id]`` and one from a notification are the same object
and share the last known state. Ended calls are dropped from that map.

A call's state only moves forward. The service may report ``establishing`` after
``established``; such a late report does not move the call back. States are ranked:
incoming, then establishing, then the in-call states (established, hold,
transferring, transferAccepted, redirecting, which may follow one another in any
order, because a failed transfer returns to established), then terminating, then
terminated.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from calls_async import _protocol
from calls_async._call_groups import (
    AudioRoutingGroupCollection,
    ContentSharingSessionCollection,
)
from calls_async._config import USE_CLIENT_DEFAULT, Timeout, fold_id
from calls_async._errors import CallTerminated, ResponseParseError
from calls_async._events import CallEnded, CallEvent, StateChanged, ToneReceived
from calls_async._operations import Operation, new_client_context
from calls_async._participants import ParticipantCollection, Roster
from calls_async._retry import Retry
from calls_async.models import (
    AddLargeGalleryViewOperation,
    CallMediaState,
    CallProperties,
    CallState,
    CancelMediaProcessingOperation,
    ChatInfo,
    CommsOperation,
    IncomingCallOptions,
    InvitationParticipantInfo,
    MediaConfig,
    MediaPrompt,
    MeetingInfo,
    Modality,
    MuteParticipantOperation,
    OutgoingCallOptions,
    ParticipantInfo,
    PlayPromptOperation,
    Prompt,
    RecordingStatus,
    RecordOperation,
    RejectReason,
    ResultInfo,
    ScreenSharingRole,
    SendDtmfTonesOperation,
    SubscribeToToneOperation,
    Tone,
    ToneInfo,
    UnmuteParticipantOperation,
    UpdateRecordingStatusOperation,
)

if TYPE_CHECKING:
    from calls_async._client import CallsClient
    from calls_async.models import TeleconferenceDeviceQuality

__all__ = ["Call", "CallCollection", "state_rank"]

OperationT = TypeVar("OperationT", bound=CommsOperation)

_STATE_RANK = {
    "incoming": 0,
    "ringing": 0,
    "establishing": 1,
    "established": 2,
    "hold": 2,
    "transferring": 2,
    "transferaccepted": 2,
    "redirecting": 2,
    "terminating": 3,
    "terminated": 4,
}
_ENDED_RANK = _STATE_RANK["terminated"]


def state_rank(state: CallState | str | None) -> int | None:
    """Return the rank of a call state, or None for a state unknown to this version."""
    if state is None:
        return None
    return _STATE_RANK.get(str(state).lower())


class Call:
    """A reference to one call, with its last known state.

    Get one from :class:`CallCollection`: ``client.calls[call_id]`` (no request),
    ``await client.calls.get(call_id)`` or ``await client.calls.create(...)``.
    """

    __slots__ = (
        "__weakref__",
        "_client",
        "_delta_roster",
        "_ended",
        "_properties",
        "_roster",
        "_seen_tones",
        "_state_changed",
        "_subscribers",
        "id",
        "key",
        "media_state",
        "result_info",
        "state",
        "tenant_id",
        "tone_info",
    )

    def __init__(
        self, client: CallsClient, call_id: str, key: str | None = None
    ) -> None:
        self._client = client
        self.id = call_id
        self.key = fold_id(call_id) if key is None else key
        self.state: CallState | str | None = None
        """The last known state, or None before anything was heard of the call."""
        self.result_info: ResultInfo | None = None
        """The last resultInfo the service reported for the call (such as its end)."""
        self.tone_info: ToneInfo | None = None
        """The last DTMF tone the service reported."""
        self.media_state: CallMediaState | None = None
        """The last reported media state."""
        self.tenant_id: str | None = None
        """The tenant of the call, from the token of its notifications when known."""
        self._properties: CallProperties | None = None
        self._ended = False
        self._state_changed: asyncio.Event | None = None
        self._subscribers: list[asyncio.Queue[CallEvent]] | None = None
        self._seen_tones: set[int] | None = None
        self._roster: Roster | None = None
        self._delta_roster = False

    def __repr__(self) -> str:
        return f"<Call id={self.id!r} state={self.state!r}>"

    @property
    def properties(self) -> CallProperties | None:
        """The call resource as the service last returned it, or None."""
        return self._properties

    @property
    def participants(self) -> ParticipantCollection:
        """The participants of the call, fetched with requests; also ``invite``."""
        return ParticipantCollection(self)

    @property
    def roster(self) -> Roster:
        """The participants as last notified, kept without requests."""
        if self._roster is None:
            self._roster = Roster(self)
        return self._roster

    @property
    def delta_roster(self) -> bool:
        """True when roster notifications carry only changes (delta roster)."""
        return self._delta_roster

    @property
    def audio_routing_groups(self) -> AudioRoutingGroupCollection:
        """The audio routing groups of the call."""
        return AudioRoutingGroupCollection(self)

    @property
    def content_sharing_sessions(self) -> ContentSharingSessionCollection:
        """The content sharing sessions of the call."""
        return ContentSharingSessionCollection(self)

    @property
    def ended(self) -> bool:
        """True once the call is known to have ended."""
        return self._ended

    # -- state -----------------------------------------------------------------

    def _apply_properties(self, props: CallProperties) -> bool:
        """Take a newer view of the call; return True if its state changed."""
        self._properties = props
        if props.result_info is not None:
            self.result_info = props.result_info
        if props.media_state is not None:
            self.media_state = props.media_state
        changed = self._move_to(props.state, props.result_info)
        if props.tone_info is not None:
            self._take_tone(props.tone_info)
        return changed

    def _take_tone(self, tone: ToneInfo) -> None:
        self.tone_info = tone
        sequence = tone.sequence_id
        if sequence is not None:
            if self._seen_tones is None:
                self._seen_tones = set()
            elif sequence in self._seen_tones:
                return
            self._seen_tones.add(sequence)
        if tone.tone is not None:
            self._emit(
                ToneReceived(call_id=self.id, tone=tone.tone, sequence_id=sequence)
            )

    def _move_to(
        self, state: CallState | str | None, result_info: ResultInfo | None = None
    ) -> bool:
        if state is None or state == self.state:
            return False
        old_rank = state_rank(self.state)
        new_rank = state_rank(state)
        if old_rank is not None:
            # Ignore a late report of an earlier state, and an unknown state once the
            # call has begun to end.
            if new_rank is None:
                if old_rank >= _STATE_RANK["terminating"]:
                    return False
            elif new_rank < old_rank:
                return False
        previous, self.state = self.state, state
        if self._state_changed is not None:
            self._state_changed.set()
            self._state_changed = None
        self._emit(
            StateChanged(
                call_id=self.id, state=state, previous=previous, result_info=result_info
            )
        )
        return True

    def _mark_ended(self, result_info: ResultInfo | None) -> None:
        if result_info is not None:
            self.result_info = result_info
        self._move_to(CallState.TERMINATED, result_info)
        props = self._properties
        if props is not None and str(props.state).lower() != "terminated":
            # Keep the last resource in step with the state it no longer reports.
            self._properties = attrs.evolve(
                props, state=CallState.TERMINATED, result_info=self.result_info
            )
        if not self._ended:
            self._ended = True
            self._emit(CallEnded(call_id=self.id, result_info=self.result_info))
            if self._state_changed is not None:
                self._state_changed.set()
                self._state_changed = None

    # -- events ----------------------------------------------------------------

    def _emit(self, event: CallEvent) -> None:
        if self._subscribers:
            for queue in self._subscribers:
                queue.put_nowait(event)

    def events(self) -> AsyncIterator[CallEvent]:
        """Return an async iterator of the call's events from now on.

        It yields :class:`StateChanged`, :class:`ToneReceived`,
        :class:`RosterUpdated`, :class:`OperationCompleted`,
        :class:`ContentSharingUpdated` and :class:`UnknownNotification` events, and
        ends after :class:`CallEnded`. Events before this call are not replayed; the
        subscription starts here, before the first ``await``.
        """
        return _EventStream(self)

    def termination_error(
        self, operation_id: str | None = None, client_context: str | None = None
    ) -> CallTerminated:
        """Return the error that pending operations of this ended call fail with."""
        info = self.result_info
        return CallTerminated(
            call_id=self.id,
            operation_id=operation_id,
            client_context=client_context,
            code=info.code if info is not None else None,
            subcode=info.subcode if info is not None else None,
            result_message=info.message if info is not None else None,
        )

    async def wait_for_state(
        self,
        state: CallState | str,
        *,
        timeout: float | None = 60.0,
        poll_interval: float = 0.2,
    ) -> CallState | str:
        """Wait until the call reaches ``state`` (or a later state) and return it.

        The state follows notifications when the client receives them; otherwise the
        call is fetched with GET every ``poll_interval`` seconds.

        Raises:
            CallTerminated: the call ended before reaching ``state``.
            TimeoutError: ``state`` was not reached within ``timeout`` seconds.
            ValueError: ``state`` is not a known call state.
        """
        target = state_rank(state)
        if target is None:
            raise ValueError(
                f"state {state!r} is not a call state this version knows; use a "
                "CallState member such as CallState.ESTABLISHED"
            )
        async with asyncio.timeout(timeout):
            while True:
                reached = self._reached(state, target)
                if reached is not None:
                    return reached
                if self._client.receives_notifications:
                    await self._next_state_change()
                    continue
                try:
                    await asyncio.wait_for(self._next_state_change(), poll_interval)
                except TimeoutError:
                    await self.refresh()

    def _reached(self, state: CallState | str, target: int) -> CallState | str | None:
        current = state_rank(self.state)
        if self._ended and target < _ENDED_RANK:
            raise self.termination_error()
        if current is None:
            return None
        wanted = str(state).lower()
        exact = str(self.state).lower() == wanted
        # Any in-call state (hold, transferring...) means established was reached.
        in_call = wanted == "established" and current == target
        if exact or in_call or current > target:
            assert self.state is not None
            return self.state
        return None

    async def _next_state_change(self) -> None:
        if self._state_changed is None:
            self._state_changed = asyncio.Event()
        await self._state_changed.wait()

    # -- sending ---------------------------------------------------------------

    def _send(
        self, request: _protocol.Request, timeout: Timeout, retry: Retry
    ) -> Coroutine[Any, Any, Any]:
        # A plain function that hands back the client's coroutine: one frame less
        # on every request.
        return self._client._send(request, timeout=timeout, retry=retry, call=self)

    def _send_operation(
        self,
        request: _protocol.Request,
        expected: type[OperationT],
        client_context: str,
        timeout: Timeout,
        retry: Retry,
    ) -> Coroutine[Any, Any, Operation[OperationT]]:
        # As _send: the client's coroutine also tracks the operation it returns.
        return self._client._send(
            request,
            timeout=timeout,
            retry=retry,
            call=self,
            operation=(expected, client_context),
        )

    # -- actions without an operation -----------------------------------------

    async def refresh(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> CallProperties:
        """Fetch the call (GET) and update its last known state.

        Raises:
            NotFoundError: the call has ended or never existed; pending operations of
                the call fail with CallTerminated.
        """
        props = await self._send(_protocol.get_call(self.id), timeout, retry)
        assert isinstance(props, CallProperties)
        self._client.calls._observe(self, props)
        return props

    async def answer(
        self,
        *,
        media_config: MediaConfig,
        accepted_modalities: Sequence[Modality | str] = (Modality.AUDIO,),
        callback_uri: str | None = None,
        participant_capacity: int | None = None,
        call_options: IncomingCallOptions | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Answer an incoming call (202; the call then moves to established).

        ``callback_uri`` defaults to the client's callback URI.
        """
        request = _protocol.answer(
            self.id,
            callback_uri=callback_uri or self._client.callback_uri,
            media_config=media_config,
            accepted_modalities=accepted_modalities,
            participant_capacity=participant_capacity,
            call_options=call_options,
        )
        await self._send(request, timeout, retry)
        if call_options is not None and call_options.is_delta_roster_enabled:
            self._delta_roster = True

    async def reject(
        self,
        *,
        reason: RejectReason | str | None = None,
        callback_uri: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Reject an incoming call, optionally as busy or forbidden (202)."""
        request = _protocol.reject(self.id, reason=reason, callback_uri=callback_uri)
        await self._send(request, timeout, retry)

    async def redirect(
        self,
        targets: Sequence[InvitationParticipantInfo],
        *,
        timeout_seconds: int | None = None,
        callback_uri: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Redirect an incoming call to 1 to 25 targets, rung at once (202).

        Args:
            targets: who to ring; the first to pick up gets the call.
            timeout_seconds: how long the targets ring, 15 to 90 s (the service's
                default is 55 s for one target and 60 s for several).
            callback_uri: where notifications for the call go from now on.
            timeout: seconds for this request (not the ringing time).
        """
        request = _protocol.redirect(
            self.id,
            targets=targets,
            timeout=timeout_seconds,
            callback_uri=callback_uri,
        )
        await self._send(request, timeout, retry)

    async def transfer(
        self,
        transfer_target: InvitationParticipantInfo,
        *,
        transferee: ParticipantInfo | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Transfer an established call (202).

        Set ``transfer_target.replaces_call_id`` for a consultative transfer, and
        ``transferee`` to move one participant out of a group call.
        """
        request = _protocol.transfer(
            self.id, transfer_target=transfer_target, transferee=transferee
        )
        await self._send(request, timeout, retry)

    async def keep_alive(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Tell the service the call is still in use (200).

        The service ends a call that has had no successful keepAlive for 45 minutes.
        """
        await self._send(_protocol.keep_alive(self.id), timeout, retry)

    async def change_screen_sharing_role(
        self,
        role: ScreenSharingRole | str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Become a viewer or the sharer of the screen in the call (202)."""
        await self._send(
            _protocol.change_screen_sharing_role(self.id, role=role), timeout, retry
        )

    async def hang_up(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """End the bot's leg of the call (DELETE, 204).

        Pending operations of the call fail with CallTerminated.
        """
        await self._send(_protocol.delete_call(self.id), timeout, retry)
        self._client.calls._end(self, None)

    # -- actions that return an operation --------------------------------------

    async def mute(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[MuteParticipantOperation]:
        """Mute the bot in the call; returns a handle, usually completed already."""
        context = client_context or new_client_context()
        request = _protocol.mute(self.id, client_context=context)
        return await self._send_operation(
            request, MuteParticipantOperation, context, timeout, retry
        )

    async def unmute(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[UnmuteParticipantOperation]:
        """Unmute the bot in the call; returns a handle, usually completed already."""
        context = client_context or new_client_context()
        request = _protocol.unmute(self.id, client_context=context)
        return await self._send_operation(
            request, UnmuteParticipantOperation, context, timeout, retry
        )

    async def play_prompt(
        self,
        prompts: Iterable[Prompt | str],
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[PlayPromptOperation]:
        """Queue 1 to 20 prompts to play; the handle completes when they have played.

        A string in ``prompts`` is taken as the https URI of a WAV file.
        """
        context = client_context or new_client_context()
        request = _protocol.play_prompt(
            self.id, prompts=_prompts(prompts), client_context=context
        )
        return await self._send_operation(
            request, PlayPromptOperation, context, timeout, retry
        )

    async def record_response(
        self,
        *,
        prompts: Iterable[Prompt | str] = (),
        barge_in_allowed: bool | None = None,
        initial_silence_timeout: int | None = None,
        max_silence_timeout: int | None = None,
        max_record_duration: int | None = None,
        play_beep: bool | None = None,
        stop_tones: Sequence[str] | None = None,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[RecordOperation]:
        """Record a short answer from the caller.

        The final :class:`RecordOperation` carries ``recording_location`` and
        ``recording_access_token``; fetch the audio with :meth:`download_recording`.
        Timers are in seconds, 1 to 120.
        """
        context = client_context or new_client_context()
        request = _protocol.record_response(
            self.id,
            prompts=_prompts(prompts),
            barge_in_allowed=barge_in_allowed,
            initial_silence_timeout=initial_silence_timeout,
            max_silence_timeout=max_silence_timeout,
            max_record_duration=max_record_duration,
            play_beep=play_beep,
            stop_tones=stop_tones,
            client_context=context,
        )
        return await self._send_operation(
            request, RecordOperation, context, timeout, retry
        )

    async def cancel_media_processing(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[CancelMediaProcessingOperation]:
        """Cancel the running and queued prompts and recordings.

        Their handles fail with OperationFailed (code 400, subcode 8508).
        """
        context = client_context or new_client_context()
        request = _protocol.cancel_media_processing(self.id, client_context=context)
        return await self._send_operation(
            request, CancelMediaProcessingOperation, context, timeout, retry
        )

    async def subscribe_to_tone(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[SubscribeToToneOperation]:
        """Ask the service to report DTMF tones the caller presses."""
        context = client_context or new_client_context()
        request = _protocol.subscribe_to_tone(self.id, client_context=context)
        return await self._send_operation(
            request, SubscribeToToneOperation, context, timeout, retry
        )

    async def send_dtmf_tones(
        self,
        tones: Sequence[Tone | str],
        *,
        delay_between_tones_ms: int | None = None,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[SendDtmfTonesOperation]:
        """Send DTMF tones into the call, such as ``[Tone.TONE1, Tone.POUND]``."""
        context = client_context or new_client_context()
        request = _protocol.send_dtmf_tones(
            self.id,
            tones=tones,
            delay_between_tones_ms=delay_between_tones_ms,
            client_context=context,
        )
        return await self._send_operation(
            request, SendDtmfTonesOperation, context, timeout, retry
        )

    async def update_recording_status(
        self,
        status: RecordingStatus | str,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[UpdateRecordingStatusOperation]:
        """Report the bot's recording status (policy-based recording)."""
        context = client_context or new_client_context()
        request = _protocol.update_recording_status(
            self.id, status=status, client_context=context
        )
        return await self._send_operation(
            request, UpdateRecordingStatusOperation, context, timeout, retry
        )

    async def add_large_gallery_view(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[AddLargeGalleryViewOperation]:
        """Add the large gallery view to the call."""
        context = client_context or new_client_context()
        request = _protocol.add_large_gallery_view(self.id, client_context=context)
        return await self._send_operation(
            request, AddLargeGalleryViewOperation, context, timeout, retry
        )

    async def download_recording(
        self,
        recording: RecordOperation,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> bytes:
        """Download a finished recording with its own access token.

        The Graph token is never sent to the recording location.

        Raises:
            ValueError: the operation has no recording location or access token.
        """
        location = recording.recording_location
        token = recording.recording_access_token
        if not location or not token:
            raise ValueError(
                f"record operation {recording.id} has no recording location or access "
                "token; await the record_response handle until it completes"
            )
        return await self._client._transport.fetch_recording(
            location, token, timeout=timeout
        )


class _EventStream:
    """One subscriber's queue of a call's events, ending after CallEnded."""

    __slots__ = ("_call", "_finished", "_queue")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._finished = False
        if call.ended:
            self._queue.put_nowait(
                CallEnded(call_id=call.id, result_info=call.result_info)
            )
        else:
            if call._subscribers is None:
                call._subscribers = []
            call._subscribers.append(self._queue)

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> CallEvent:
        if self._finished:
            raise StopAsyncIteration
        event = await self._queue.get()
        if isinstance(event, CallEnded):
            self._finished = True
            self._unsubscribe()
        return event

    def _unsubscribe(self) -> None:
        subscribers = self._call._subscribers
        if subscribers is not None and self._queue in subscribers:
            subscribers.remove(self._queue)
            if not subscribers:
                self._call._subscribers = None

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._finished = True
        self._unsubscribe()


def _prompts(prompts: Iterable[Prompt | str]) -> list[Prompt]:
    if isinstance(prompts, str | Prompt):
        raise TypeError(
            "prompts must be a list of prompts or URIs, not a single "
            f"{type(prompts).__name__}; wrap it in a list"
        )
    return [MediaPrompt.from_uri(p) if isinstance(p, str) else p for p in prompts]


class CallCollection:
    """The calls of one client: create, fetch and reference calls by id.

    ``client.calls[call_id]`` returns the :class:`Call` for that id without a request;
    the same id (compared without case) always gives the same object while the call
    lives.
    """

    def __init__(self, client: CallsClient) -> None:
        self._client = client
        self._live: dict[str, Call] = {}
        # Calls that ended lately, so that their late notifications find the same
        # object instead of waiting in the backlog for a call that will never come.
        self._recent: collections.OrderedDict[str, tuple[float, Call]] = (
            collections.OrderedDict()
        )
        self.recent_ttl = 60.0
        self._expiry_timer: asyncio.TimerHandle | None = None

    def __getitem__(self, call_id: str) -> Call:
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(
                f"call id {call_id!r} is not valid; give the call's id string"
            )
        key = fold_id(call_id)
        call = self._live.get(key)
        if call is None:
            recent = self._recent.get(key)
            if recent is not None:
                return recent[1]
            call = Call(self._client, call_id, key)
            self._live[key] = call
            self._client._call_became_known(call)
        return call

    def _known(self, call_id: str) -> Call | None:
        """Return the live or lately ended call with this id, without creating one."""
        key = fold_id(call_id)
        call = self._live.get(key)
        if call is not None:
            return call
        recent = self._recent.get(key)
        return recent[1] if recent is not None else None

    def __contains__(self, call_id: object) -> bool:
        return isinstance(call_id, str) and fold_id(call_id) in self._live

    def __len__(self) -> int:
        return len(self._live)

    def tracked(self) -> list[Call]:
        """Return the calls this client tracks now (ended calls are dropped)."""
        return list(self._live.values())

    async def get(
        self,
        call_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Call:
        """Fetch a call by id (GET) and return its handle with the state filled in."""
        call = self[call_id]
        await call.refresh(timeout=timeout, retry=retry)
        return call

    async def create(
        self,
        *,
        media_config: MediaConfig,
        targets: Sequence[InvitationParticipantInfo] | None = None,
        source: ParticipantInfo | None = None,
        requested_modalities: Sequence[Modality | str] = (Modality.AUDIO,),
        chat_info: ChatInfo | None = None,
        meeting_info: MeetingInfo | None = None,
        tenant_id: str | None = None,
        subject: str | None = None,
        call_options: OutgoingCallOptions | None = None,
        callback_uri: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Call:
        """Start an outgoing call or join a meeting (POST, 201).

        Give ``targets`` (one for a peer-to-peer call, up to five for a group call),
        or ``chat_info`` with ``meeting_info`` to join a meeting. For a PSTN call give
        a ``source`` with an application instance and ``tenant_id``.
        ``callback_uri`` defaults to the client's.
        """
        request = _protocol.create_call(
            callback_uri=callback_uri or self._client.callback_uri,
            media_config=media_config,
            targets=targets,
            source=source,
            requested_modalities=requested_modalities,
            chat_info=chat_info,
            meeting_info=meeting_info,
            tenant_id=tenant_id,
            subject=subject,
            call_options=call_options,
        )
        props = await self._client._send(
            request, timeout=timeout, retry=retry, call=None
        )
        assert isinstance(props, CallProperties)
        if not props.id:
            raise ResponseParseError(
                "the reply to POST /communications/calls has no id"
            )
        call = self[props.id]
        if call_options is not None and call_options.is_delta_roster_enabled:
            call._delta_roster = True
        self._observe(call, props)
        return call

    async def log_teleconference_device_quality(
        self,
        quality: TeleconferenceDeviceQuality,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Report the media quality of a teleconference device (200)."""
        request = _protocol.log_teleconference_device_quality(quality=quality)
        await self._client._send(request, timeout=timeout, retry=retry, call=None)

    # -- state kept by the client ----------------------------------------------

    def _observe(self, call: Call, props: CallProperties) -> bool:
        changed = call._apply_properties(props)
        if str(call.state).lower() == "terminated":
            self._end(call, props.result_info)
        return changed

    def _end(self, call: Call, result_info: ResultInfo | None) -> None:
        """Mark ``call`` ended, fail its pending operations and stop tracking it."""
        first_time = not call.ended
        call._mark_ended(result_info)
        if first_time:
            self._client._operations.fail_call(call)
        if self._live.get(call.key) is call:
            del self._live[call.key]
            now = time.monotonic()
            self._recent[call.key] = (now + self.recent_ttl, call)
            self._recent.move_to_end(call.key)
            self._forget_expired(now)

    def _forget_expired(self, now: float) -> None:
        """Drop the lately ended calls whose time is up; time the next drop.

        The timer releases the last calls of a burst even when no other call ends
        after them.
        """
        recent = self._recent
        while recent:
            key, (expires_at, _) = next(iter(recent.items()))
            if expires_at > now:
                break
            del recent[key]
        if not recent or self._expiry_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        expires_at = next(iter(recent.values()))[0]
        self._expiry_timer = loop.call_later(
            max(0.0, expires_at - now), self._on_expiry_timer
        )

    def _on_expiry_timer(self) -> None:
        self._expiry_timer = None
        self._forget_expired(time.monotonic())

    def _stop_expiry_timer(self) -> None:
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
