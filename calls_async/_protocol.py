"""Requests and responses of the Graph calls API, without I/O.

Each builder checks its arguments, then returns a :class:`Request`: the method, the
path relative to the base URL (which ends in ``/v1.0``), the JSON body and the kind of
body the success response carries. The transport sends it; the readers at the end of
this module turn the response body into models or error details.

Ids in paths are percent-encoded with ``quote(id, safe="")``. Actions use the short
form ``.../{callId}/playPrompt``, not the namespace-qualified
``.../microsoft.graph.playPrompt``. An action that takes parameters is sent with a
JSON object body even when every parameter is left out (``{}``). keepAlive takes no
parameters, so it is sent without a body.
"""

from __future__ import annotations

import email.utils
import enum
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import attrs

from calls_async._errors import ResponseParseError
from calls_async._json import loads
from calls_async._validation import (
    MAX_CALL_TARGETS,
    MAX_INVITE_PARTICIPANTS,
    MAX_PLAY_PROMPTS,
    MAX_RECORD_PROMPTS,
    MAX_RECORD_TIMER_SECONDS,
    MAX_REDIRECT_TARGETS,
    MAX_REDIRECT_TIMEOUT_SECONDS,
    MIN_RECORD_TIMER_SECONDS,
    MIN_REDIRECT_TIMEOUT_SECONDS,
    check_bool,
    check_client_context,
    check_https_uri,
    check_identity_set,
    check_instance,
    check_int_range,
    check_invitation,
    check_invitations,
    check_media_config,
    check_prompt,
    check_prompts,
    check_sequence,
    coerce_enum,
    coerce_stop_tone,
    coerce_tone,
    optional_str,
    require_id,
)
from calls_async.models import (
    AudioRoutingGroup,
    CallDirection,
    CallProperties,
    ChatInfo,
    CommsOperation,
    ContentSharingSession,
    GraphModel,
    IncomingCallOptions,
    InvitationParticipantInfo,
    MediaConfig,
    MeetingInfo,
    Modality,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    ParticipantInfo,
    ParticipantProperties,
    Prompt,
    RecordingStatus,
    RejectReason,
    RoutingMode,
    ScreenSharingRole,
    Tone,
    from_wire,
    to_wire,
)

if TYPE_CHECKING:
    from calls_async.models import TeleconferenceDeviceQuality

__all__ = [
    "GraphErrorDetails",
    "Request",
    "ResponseKind",
    "add_large_gallery_view",
    "answer",
    "cancel_media_processing",
    "change_screen_sharing_role",
    "create_audio_routing_group",
    "create_call",
    "delete_audio_routing_group",
    "delete_call",
    "get_audio_routing_group",
    "get_call",
    "get_content_sharing_session",
    "get_operation",
    "get_participant",
    "invite_participants",
    "keep_alive",
    "list_audio_routing_groups",
    "list_content_sharing_sessions",
    "list_participants",
    "log_teleconference_device_quality",
    "mute",
    "mute_participant",
    "operation_id_from_location",
    "parse_audio_routing_group",
    "parse_audio_routing_group_list",
    "parse_call",
    "parse_content_sharing_session",
    "parse_content_sharing_session_list",
    "parse_error_body",
    "parse_json",
    "parse_operation",
    "parse_participant",
    "parse_participant_list",
    "parse_response",
    "parse_retry_after",
    "play_prompt",
    "record_response",
    "redirect",
    "reject",
    "remove_participant",
    "send_dtmf_tones",
    "start_hold_music",
    "stop_hold_music",
    "subscribe_to_tone",
    "transfer",
    "unmute",
    "update_audio_routing_group",
    "update_recording_status",
]

CALLS_PATH = "/communications/calls"

_REJECT_REASONS = (RejectReason.NONE, RejectReason.BUSY, RejectReason.FORBIDDEN)
# "unknown" is in the schema but is no status an app can report.
_REPORTABLE_RECORDING_STATUSES = (
    RecordingStatus.NOT_RECORDING,
    RecordingStatus.RECORDING,
    RecordingStatus.FAILED,
)
_ROUTING_MODES = (RoutingMode.ONE_TO_ONE, RoutingMode.MULTICAST)
_MAX_ERROR_TEXT_LENGTH = 500
_MAX_INNER_ERROR_DEPTH = 10


class ResponseKind(enum.Enum):
    """Kind of body a success response carries."""

    NONE = "none"
    CALL = "call"
    OPERATION = "operation"
    PARTICIPANT = "participant"
    PARTICIPANT_LIST = "participant_list"
    AUDIO_ROUTING_GROUP = "audio_routing_group"
    AUDIO_ROUTING_GROUP_LIST = "audio_routing_group_list"
    CONTENT_SHARING_SESSION = "content_sharing_session"
    CONTENT_SHARING_SESSION_LIST = "content_sharing_session_list"


def _summarize_body(body: dict[str, Any] | None) -> str:
    # A body may carry a meeting token or passcode, so the repr shows only its keys.
    if body is None:
        return "None"
    return "{" + ", ".join(f"{key!r}: ..." for key in body) + "}"


@attrs.define(frozen=True, slots=True)
class Request:
    """One Graph request, ready to send.

    Attributes:
        method: HTTP method.
        path: path below the base URL, starting with ``/communications/calls``.
        body: the JSON body, or None to send none.
        call_id: the call the request acts on, unquoted, or None.
        response: what the success response body holds.
    """

    method: str
    path: str
    body: dict[str, Any] | None = attrs.field(repr=_summarize_body, hash=False)
    call_id: str | None
    response: ResponseKind


# Characters that quote() leaves as they are; ids (GUIDs) consist of nothing else.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


def _quote(value: str) -> str:
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="")


def _call_path(call_id: Any) -> str:
    return f"{CALLS_PATH}/{_quote(require_id(call_id, 'call_id'))}"


def _participant_path(call_id: Any, participant_id: Any) -> str:
    participant = _quote(require_id(participant_id, "participant_id"))
    return f"{_call_path(call_id)}/participants/{participant}"


def _with_client_context(body: dict[str, Any], client_context: Any) -> dict[str, Any]:
    checked = check_client_context(client_context)
    if checked is not None:
        body["clientContext"] = checked
    return body


def _operation_action(call_id: Any, action: str, client_context: Any) -> Request:
    path = f"{_call_path(call_id)}/{action}"
    body = _with_client_context({}, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def _coerce_modalities(values: Any, name: str) -> list[str]:
    if isinstance(values, str | Modality):
        raise TypeError(
            f"{name} must be a list of modalities, such as [Modality.AUDIO], "
            f"not a single {type(values).__name__}"
        )
    checked = check_sequence(values, name, object, 1, None, element_name="Modality")
    return [
        coerce_enum(Modality, value, f"{name}[{index}]").value
        for index, value in enumerate(checked)
    ]


# Calls.


def create_call(
    *,
    callback_uri: str,
    media_config: MediaConfig,
    targets: Sequence[InvitationParticipantInfo] | None = None,
    source: ParticipantInfo | None = None,
    requested_modalities: Sequence[Modality | str] = (Modality.AUDIO,),
    chat_info: ChatInfo | None = None,
    meeting_info: MeetingInfo | None = None,
    tenant_id: str | None = None,
    subject: str | None = None,
    call_options: OutgoingCallOptions | None = None,
    direction: CallDirection | str | None = None,
) -> Request:
    """Build ``POST /communications/calls``, which places a call or joins a meeting.

    Pass ``targets`` (1 to 5) for a peer-to-peer or group call, or ``meeting_info``
    (with ``chat_info`` for an :class:`OrganizerMeetingInfo`) and ``tenant_id`` to
    join a meeting. A target with a phone identity makes a PSTN call, which needs
    ``tenant_id`` and a ``source`` whose identity has ``application_instance``.
    """
    check_https_uri(callback_uri, "callback_uri")
    check_media_config(media_config)
    modalities = _coerce_modalities(requested_modalities, "requested_modalities")
    checked_targets = None
    if targets is not None:
        checked_targets = check_invitations(
            targets,
            "targets",
            1,
            MAX_CALL_TARGETS,
            "invite the rest with invite_participants once the call is established",
        )
    if source is not None:
        check_instance(source, ParticipantInfo, "source")
        check_identity_set(source.identity, "source.identity")
    if chat_info is not None:
        check_instance(chat_info, ChatInfo, "chat_info")
    if meeting_info is not None:
        _check_meeting_info(meeting_info)
    optional_str(tenant_id, "tenant_id")
    if subject is not None and not isinstance(subject, str):
        raise TypeError(f"subject must be a string, got {type(subject).__name__}")
    if call_options is not None:
        check_instance(call_options, OutgoingCallOptions, "call_options")
    checked_direction = None
    if direction is not None:
        checked_direction = coerce_enum(CallDirection, direction, "direction")
    _check_call_scenario(checked_targets, source, chat_info, meeting_info, tenant_id)

    call = CallProperties(
        callback_uri=callback_uri,
        targets=checked_targets,
        source=source,
        requested_modalities=tuple(modalities),
        media_config=media_config,
        chat_info=chat_info,
        meeting_info=meeting_info,
        tenant_id=tenant_id,
        subject=subject,
        call_options=call_options,
        direction=checked_direction,
    )
    return Request("POST", CALLS_PATH, to_wire(call), None, ResponseKind.CALL)


def _check_meeting_info(meeting_info: Any) -> None:
    check_instance(meeting_info, MeetingInfo, "meeting_info")
    if isinstance(meeting_info, OrganizerMeetingInfo):
        check_identity_set(meeting_info.organizer, "meeting_info.organizer")
    elif (
        type(meeting_info) is MeetingInfo
        and "@odata.type" not in meeting_info.additional_data
    ):
        raise TypeError(
            "meeting_info is the abstract MeetingInfo. Use OrganizerMeetingInfo, "
            "TokenMeetingInfo or JoinMeetingIdMeetingInfo."
        )


def _check_call_scenario(
    targets: tuple[InvitationParticipantInfo, ...] | None,
    source: ParticipantInfo | None,
    chat_info: ChatInfo | None,
    meeting_info: MeetingInfo | None,
    tenant_id: str | None,
) -> None:
    joins_meeting = chat_info is not None or meeting_info is not None
    if targets is None and not joins_meeting:
        raise ValueError(
            "create_call needs targets (1 to 5 participants to call) or meeting_info "
            "(a meeting to join). Pass one of them."
        )
    if targets is not None and joins_meeting:
        raise ValueError(
            "create_call got both targets and a meeting to join. Pass targets to "
            "place a call, or chat_info and meeting_info to join a meeting."
        )
    if joins_meeting:
        if meeting_info is None:
            raise ValueError(
                "chat_info is set but meeting_info is missing, and a meeting join "
                "needs both. Add an OrganizerMeetingInfo for the meeting's organizer."
            )
        if isinstance(meeting_info, OrganizerMeetingInfo) and chat_info is None:
            raise ValueError(
                "meeting_info is an OrganizerMeetingInfo, so chat_info with the "
                "meeting's thread id is needed too. Take both from the join URL."
            )
        if tenant_id is None:
            raise ValueError(
                "tenant_id is missing, but joining a meeting needs the tenant id "
                "of the meeting. Pass tenant_id."
            )
        return
    assert targets is not None
    if not any(target.identity.phone is not None for target in targets):
        return
    if tenant_id is None:
        raise ValueError(
            "tenant_id is missing, but a call to a phone number (PSTN) needs the "
            "tenant id of the application instance. Pass tenant_id."
        )
    if source is None or source.identity.application_instance is None:
        raise ValueError(
            "a call to a phone number (PSTN) needs source with "
            "identity.application_instance set to the application instance that "
            "owns the calling number. Pass source."
        )


def get_call(call_id: str) -> Request:
    """Build ``GET /communications/calls/{id}``."""
    return Request("GET", _call_path(call_id), None, call_id, ResponseKind.CALL)


def delete_call(call_id: str) -> Request:
    """Build ``DELETE /communications/calls/{id}``, which hangs up the bot's leg."""
    return Request("DELETE", _call_path(call_id), None, call_id, ResponseKind.NONE)


def answer(
    call_id: str,
    *,
    callback_uri: str,
    media_config: MediaConfig,
    accepted_modalities: Sequence[Modality | str] = (Modality.AUDIO,),
    participant_capacity: int | None = None,
    call_options: IncomingCallOptions | None = None,
) -> Request:
    """Build the answer action for an incoming call.

    ``participant_capacity`` is for policy-based recording bots only: how many
    participants of one policy group this call instance takes.
    """
    path = f"{_call_path(call_id)}/answer"
    check_https_uri(callback_uri, "callback_uri")
    check_media_config(media_config)
    modalities = _coerce_modalities(accepted_modalities, "accepted_modalities")
    body: dict[str, Any] = {
        "callbackUri": callback_uri,
        "acceptedModalities": modalities,
        "mediaConfig": to_wire(media_config),
    }
    if participant_capacity is not None:
        body["participantCapacity"] = _check_positive_int(
            participant_capacity, "participant_capacity"
        )
    if call_options is not None:
        check_instance(call_options, IncomingCallOptions, "call_options")
        body["callOptions"] = to_wire(call_options)
    return Request("POST", path, body, call_id, ResponseKind.NONE)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} is {value}, but it must be 1 or more")
    return value


def reject(
    call_id: str,
    *,
    reason: RejectReason | str | None = None,
    callback_uri: str | None = None,
) -> Request:
    """Build the reject action for an incoming call."""
    path = f"{_call_path(call_id)}/reject"
    body: dict[str, Any] = {}
    if reason is not None:
        checked = coerce_enum(RejectReason, reason, "reason", _REJECT_REASONS)
        body["reason"] = checked.value
    if callback_uri is not None:
        body["callbackUri"] = check_https_uri(callback_uri, "callback_uri")
    return Request("POST", path, body, call_id, ResponseKind.NONE)


def redirect(
    call_id: str,
    *,
    targets: Sequence[InvitationParticipantInfo],
    timeout: int | None = None,
    callback_uri: str | None = None,
) -> Request:
    """Build the redirect action; several targets ring at once and the first wins.

    ``timeout`` is in seconds. The service defaults to 55 s for one target and 60 s
    for several.
    """
    path = f"{_call_path(call_id)}/redirect"
    checked = check_invitations(
        targets,
        "targets",
        1,
        MAX_REDIRECT_TARGETS,
        "redirect to fewer targets",
    )
    body: dict[str, Any] = {"targets": to_wire(checked)}
    if timeout is not None:
        body["timeout"] = check_int_range(
            timeout,
            # Call.redirect exposes this as timeout_seconds, apart from its
            # request timeout, so the message names that argument.
            "timeout_seconds",
            MIN_REDIRECT_TIMEOUT_SECONDS,
            MAX_REDIRECT_TIMEOUT_SECONDS,
            "seconds",
        )
    if callback_uri is not None:
        body["callbackUri"] = check_https_uri(callback_uri, "callback_uri")
    return Request("POST", path, body, call_id, ResponseKind.NONE)


def transfer(
    call_id: str,
    *,
    transfer_target: InvitationParticipantInfo,
    transferee: ParticipantInfo | None = None,
) -> Request:
    """Build the transfer action.

    A ``transfer_target`` with ``replaces_call_id`` makes a consultative transfer.
    ``transferee`` names the participant to move when transferring out of a group
    call.
    """
    path = f"{_call_path(call_id)}/transfer"
    check_invitation(transfer_target, "transfer_target")
    body: dict[str, Any] = {"transferTarget": to_wire(transfer_target)}
    if transferee is not None:
        check_instance(transferee, ParticipantInfo, "transferee")
        check_identity_set(transferee.identity, "transferee.identity")
        body["transferee"] = to_wire(transferee)
    return Request("POST", path, body, call_id, ResponseKind.NONE)


def keep_alive(call_id: str) -> Request:
    """Build keepAlive; the service ends a call without one for 45 minutes."""
    path = f"{_call_path(call_id)}/keepAlive"
    return Request("POST", path, None, call_id, ResponseKind.NONE)


def mute(call_id: str, *, client_context: str | None) -> Request:
    """Build the mute action for the bot itself."""
    return _operation_action(call_id, "mute", client_context)


def unmute(call_id: str, *, client_context: str | None) -> Request:
    """Build the unmute action for the bot itself."""
    return _operation_action(call_id, "unmute", client_context)


def play_prompt(
    call_id: str, *, prompts: Sequence[Prompt], client_context: str | None
) -> Request:
    """Build playPrompt; service-hosted media only."""
    path = f"{_call_path(call_id)}/playPrompt"
    checked = check_prompts(
        prompts, "prompts", 1, MAX_PLAY_PROMPTS, "play them with several requests"
    )
    body = {"prompts": to_wire(checked)}
    _with_client_context(body, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def record_response(
    call_id: str,
    *,
    prompts: Sequence[Prompt] = (),
    barge_in_allowed: bool | None = None,
    initial_silence_timeout: int | None = None,
    max_silence_timeout: int | None = None,
    max_record_duration: int | None = None,
    play_beep: bool | None = None,
    stop_tones: Sequence[Tone | str] | None = None,
    client_context: str | None,
) -> Request:
    """Build recordResponse, which records a short utterance; service-hosted media only.

    The three timers are whole seconds from 1 to 120; the service defaults each to
    5. ``stop_tones`` are DTMF keys ("#", "1", "*") or Tones, sent as keys.
    """
    path = f"{_call_path(call_id)}/recordResponse"
    body: dict[str, Any] = {}
    checked_prompts = check_prompts(
        prompts, "prompts", 0, MAX_RECORD_PROMPTS, "play the others with play_prompt"
    )
    if checked_prompts:
        body["prompts"] = to_wire(checked_prompts)
    if barge_in_allowed is not None:
        body["bargeInAllowed"] = check_bool(barge_in_allowed, "barge_in_allowed")
    timers = (
        (
            "initialSilenceTimeoutInSeconds",
            "initial_silence_timeout",
            initial_silence_timeout,
        ),
        ("maxSilenceTimeoutInSeconds", "max_silence_timeout", max_silence_timeout),
        ("maxRecordDurationInSeconds", "max_record_duration", max_record_duration),
    )
    for wire_name, name, value in timers:
        if value is not None:
            body[wire_name] = check_int_range(
                value,
                name,
                MIN_RECORD_TIMER_SECONDS,
                MAX_RECORD_TIMER_SECONDS,
                "seconds",
            )
    if play_beep is not None:
        body["playBeep"] = check_bool(play_beep, "play_beep")
    if stop_tones is not None:
        checked_tones = check_sequence(
            stop_tones, "stop_tones", object, 0, None, element_name="DTMF key"
        )
        body["stopTones"] = [
            coerce_stop_tone(tone, f"stop_tones[{index}]")
            for index, tone in enumerate(checked_tones)
        ]
    _with_client_context(body, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def cancel_media_processing(call_id: str, *, client_context: str | None) -> Request:
    """Build cancelMediaProcessing, which cancels queued prompts and recordings."""
    return _operation_action(call_id, "cancelMediaProcessing", client_context)


def subscribe_to_tone(call_id: str, *, client_context: str | None) -> Request:
    """Build subscribeToTone; tones then arrive as call notifications."""
    return _operation_action(call_id, "subscribeToTone", client_context)


def send_dtmf_tones(
    call_id: str,
    *,
    tones: Sequence[Tone | str],
    delay_between_tones_ms: int | None = None,
    client_context: str | None,
) -> Request:
    """Build sendDtmfTones.

    Each tone is a :class:`Tone`, a tone name ("tone1", "pound") or a DTMF key
    ("1", "#", "*", "A"-"D"), all sent as tone names.
    """
    path = f"{_call_path(call_id)}/sendDtmfTones"
    if isinstance(tones, str):
        raise TypeError(
            "tones must be a list of tones such as ['1', '2', 'pound'], not a string"
        )
    checked = check_sequence(tones, "tones", object, 1, None, element_name="Tone")
    body: dict[str, Any] = {
        "tones": [
            coerce_tone(tone, f"tones[{index}]").value
            for index, tone in enumerate(checked)
        ]
    }
    if delay_between_tones_ms is not None:
        # NOTE: the service documents no range for the delay; only negatives are
        # rejected here.
        if isinstance(delay_between_tones_ms, bool) or not isinstance(
            delay_between_tones_ms, int
        ):
            raise TypeError(
                "delay_between_tones_ms must be an integer number of milliseconds, "
                f"got {type(delay_between_tones_ms).__name__}"
            )
        if delay_between_tones_ms < 0:
            raise ValueError(
                f"delay_between_tones_ms is {delay_between_tones_ms}, but a delay "
                "cannot be negative, so pass 0 or more"
            )
        body["delayBetweenTonesMs"] = delay_between_tones_ms
    _with_client_context(body, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def update_recording_status(
    call_id: str, *, status: RecordingStatus | str, client_context: str | None
) -> Request:
    """Build updateRecordingStatus, for policy-based recording bots.

    Report ``recording`` and wait for success before keeping media, and stop
    recording before reporting ``notRecording``.
    """
    path = f"{_call_path(call_id)}/updateRecordingStatus"
    checked = coerce_enum(
        RecordingStatus, status, "status", _REPORTABLE_RECORDING_STATUSES
    )
    body = _with_client_context({"status": checked.value}, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def change_screen_sharing_role(
    call_id: str, *, role: ScreenSharingRole | str
) -> Request:
    """Build changeScreenSharingRole, for app-hosted media group calls."""
    path = f"{_call_path(call_id)}/changeScreenSharingRole"
    body = {"role": coerce_enum(ScreenSharingRole, role, "role").value}
    return Request("POST", path, body, call_id, ResponseKind.NONE)


def add_large_gallery_view(call_id: str, *, client_context: str | None) -> Request:
    """Build addLargeGalleryView."""
    return _operation_action(call_id, "addLargeGalleryView", client_context)


def log_teleconference_device_quality(
    *, quality: TeleconferenceDeviceQuality
) -> Request:
    """Build logTeleconferenceDeviceQuality, bound to the calls collection.

    The service also requires a ``User-Agent: AppName/Version`` header, which the
    transport sends.
    """
    # Imported here because calls_async.models loads the quality models on first use.
    from calls_async.models import (
        TeleconferenceDeviceMediaQuality,
        TeleconferenceDeviceQuality,
    )

    check_instance(quality, TeleconferenceDeviceQuality, "quality")
    for name in ("call_chain_id", "participant_id", "media_leg_id", "device_name"):
        require_id(getattr(quality, name), f"quality.{name}")
    check_sequence(
        quality.media_quality_list,
        "quality.media_quality_list",
        TeleconferenceDeviceMediaQuality,
        0,
        None,
    )
    path = f"{CALLS_PATH}/logTeleconferenceDeviceQuality"
    body = {"quality": to_wire(quality)}
    return Request("POST", path, body, None, ResponseKind.NONE)


def get_operation(call_id: str, operation_id: str) -> Request:
    """Build ``GET .../operations/{id}``.

    NOTE: no v1.0 reference page documents this GET. The schema declares the
    operations collection and the SDKs expose it, but the service may reject it.
    """
    operation = _quote(require_id(operation_id, "operation_id"))
    path = f"{_call_path(call_id)}/operations/{operation}"
    return Request("GET", path, None, call_id, ResponseKind.OPERATION)


# Participants.


def list_participants(call_id: str) -> Request:
    """Build ``GET .../participants``."""
    path = f"{_call_path(call_id)}/participants"
    return Request("GET", path, None, call_id, ResponseKind.PARTICIPANT_LIST)


def get_participant(call_id: str, participant_id: str) -> Request:
    """Build ``GET .../participants/{id}``."""
    path = _participant_path(call_id, participant_id)
    return Request("GET", path, None, call_id, ResponseKind.PARTICIPANT)


def invite_participants(
    call_id: str,
    *,
    participants: Sequence[InvitationParticipantInfo],
    client_context: str | None,
) -> Request:
    """Build ``POST .../participants/invite``, for group calls.

    Set ``replaces_call_id`` on an invitee to move them out of a call they are in.
    Inviting several at once needs a call with ``chat_info``.
    """
    path = f"{_call_path(call_id)}/participants/invite"
    checked = check_invitations(
        participants,
        "participants",
        1,
        MAX_INVITE_PARTICIPANTS,
        "invite them with several requests",
    )
    body = _with_client_context({"participants": to_wire(checked)}, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def mute_participant(
    call_id: str, participant_id: str, *, client_context: str | None
) -> Request:
    """Build ``POST .../participants/{id}/mute`` (there is no participant unmute)."""
    path = f"{_participant_path(call_id, participant_id)}/mute"
    body = _with_client_context({}, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def start_hold_music(
    call_id: str,
    participant_id: str,
    *,
    custom_prompt: Prompt | None = None,
    client_context: str | None,
) -> Request:
    """Build startHoldMusic; one participant at a time may be on hold."""
    path = f"{_participant_path(call_id, participant_id)}/startHoldMusic"
    body: dict[str, Any] = {}
    if custom_prompt is not None:
        body["customPrompt"] = to_wire(check_prompt(custom_prompt, "custom_prompt"))
    _with_client_context(body, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def stop_hold_music(
    call_id: str, participant_id: str, *, client_context: str | None
) -> Request:
    """Build stopHoldMusic."""
    path = f"{_participant_path(call_id, participant_id)}/stopHoldMusic"
    body = _with_client_context({}, client_context)
    return Request("POST", path, body, call_id, ResponseKind.OPERATION)


def remove_participant(call_id: str, participant_id: str) -> Request:
    """Build ``DELETE .../participants/{id}``; it also cancels a pending invitation."""
    path = _participant_path(call_id, participant_id)
    return Request("DELETE", path, None, call_id, ResponseKind.NONE)


# Audio routing groups.


def _group_path(call_id: Any, group_id: Any) -> str:
    group = _quote(require_id(group_id, "group_id"))
    return f"{_call_path(call_id)}/audioRoutingGroups/{group}"


def _check_participant_ids(values: Any, name: str) -> tuple[str, ...]:
    checked = check_sequence(values, name, str, 1, None)
    for index, value in enumerate(checked):
        require_id(value, f"{name}[{index}]")
    return checked


def _check_routing(
    mode: RoutingMode | None,
    sources: tuple[str, ...] | None,
    receivers: tuple[str, ...] | None,
    name: str,
) -> None:
    if mode is not RoutingMode.ONE_TO_ONE:
        return
    for label, ids in (("sources", sources), ("receivers", receivers)):
        if ids is not None and len(ids) != 1:
            raise ValueError(
                f"{name}{label} has {len(ids)} participant ids, but a oneToOne "
                "group needs exactly 1. Use multicast for one source and many "
                "receivers."
            )


def create_audio_routing_group(call_id: str, group: AudioRoutingGroup) -> Request:
    """Build ``POST .../audioRoutingGroups``, for app-hosted media calls."""
    path = f"{_call_path(call_id)}/audioRoutingGroups"
    check_instance(group, AudioRoutingGroup, "group")
    mode = coerce_enum(
        RoutingMode, group.routing_mode, "group.routing_mode", _ROUTING_MODES
    )
    sources = _check_participant_ids(group.sources, "group.sources")
    receivers = _check_participant_ids(group.receivers, "group.receivers")
    _check_routing(mode, sources, receivers, "group.")
    if group.id is not None:
        require_id(group.id, "group.id")
    if mode is not group.routing_mode:
        group = attrs.evolve(group, routing_mode=mode)
    body = to_wire(group)
    return Request("POST", path, body, call_id, ResponseKind.AUDIO_ROUTING_GROUP)


def list_audio_routing_groups(call_id: str) -> Request:
    """Build ``GET .../audioRoutingGroups``."""
    path = f"{_call_path(call_id)}/audioRoutingGroups"
    return Request("GET", path, None, call_id, ResponseKind.AUDIO_ROUTING_GROUP_LIST)


def get_audio_routing_group(call_id: str, group_id: str) -> Request:
    """Build ``GET .../audioRoutingGroups/{id}``."""
    path = _group_path(call_id, group_id)
    return Request("GET", path, None, call_id, ResponseKind.AUDIO_ROUTING_GROUP)


def update_audio_routing_group(
    call_id: str,
    group_id: str,
    *,
    routing_mode: RoutingMode | str | None = None,
    sources: Sequence[str] | None = None,
    receivers: Sequence[str] | None = None,
) -> Request:
    """Build ``PATCH .../audioRoutingGroups/{id}`` with the fields given."""
    path = _group_path(call_id, group_id)
    body: dict[str, Any] = {}
    mode = None
    if routing_mode is not None:
        mode = coerce_enum(RoutingMode, routing_mode, "routing_mode", _ROUTING_MODES)
        body["routingMode"] = mode.value
    checked_sources = None
    if sources is not None:
        checked_sources = _check_participant_ids(sources, "sources")
        body["sources"] = list(checked_sources)
    checked_receivers = None
    if receivers is not None:
        checked_receivers = _check_participant_ids(receivers, "receivers")
        body["receivers"] = list(checked_receivers)
    if not body:
        raise ValueError(
            "update_audio_routing_group got nothing to change. Pass routing_mode, "
            "sources or receivers."
        )
    _check_routing(mode, checked_sources, checked_receivers, "")
    return Request("PATCH", path, body, call_id, ResponseKind.AUDIO_ROUTING_GROUP)


def delete_audio_routing_group(call_id: str, group_id: str) -> Request:
    """Build ``DELETE .../audioRoutingGroups/{id}``."""
    path = _group_path(call_id, group_id)
    return Request("DELETE", path, None, call_id, ResponseKind.NONE)


# Content sharing sessions.


def list_content_sharing_sessions(call_id: str) -> Request:
    """Build ``GET .../contentSharingSessions``."""
    path = f"{_call_path(call_id)}/contentSharingSessions"
    return Request(
        "GET", path, None, call_id, ResponseKind.CONTENT_SHARING_SESSION_LIST
    )


def get_content_sharing_session(call_id: str, session_id: str) -> Request:
    """Build ``GET .../contentSharingSessions/{id}``."""
    session = _quote(require_id(session_id, "session_id"))
    path = f"{_call_path(call_id)}/contentSharingSessions/{session}"
    return Request("GET", path, None, call_id, ResponseKind.CONTENT_SHARING_SESSION)


# Reading responses.


def parse_json(body: bytes) -> Any:
    """Decode a JSON response body.

    Raises:
        ResponseParseError: the body is empty or not valid JSON.
    """
    try:
        return loads(body)
    except (ValueError, RecursionError) as error:
        raise ResponseParseError(
            f"the response body is not valid JSON ({type(error).__name__})"
        ) from error


def parse_call(data: Any) -> CallProperties:
    """Read a decoded call."""
    return from_wire(CallProperties, data)


def parse_operation(data: Any) -> CommsOperation:
    """Read a decoded operation as its subtype, chosen by ``@odata.type``."""
    return from_wire(CommsOperation, data)


def parse_participant(data: Any) -> ParticipantProperties:
    """Read a decoded participant."""
    return from_wire(ParticipantProperties, data)


def parse_audio_routing_group(data: Any) -> AudioRoutingGroup:
    """Read a decoded audio routing group."""
    return from_wire(AudioRoutingGroup, data)


def parse_content_sharing_session(data: Any) -> ContentSharingSession:
    """Read a decoded content sharing session."""
    return from_wire(ContentSharingSession, data)


# Collection responses, read through small models so a failure reports its path
# (such as "value[2].info.identity"). Unknown keys such as "@odata.count" are kept in
# additional_data and dropped by the readers.
# NOTE: "@odata.nextLink" paging is not followed, because the calls collections are
# not documented to page.


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class _ParticipantCollection(GraphModel):
    odata_type: ClassVar[str] = "#microsoft.graph.participantCollectionResponse"

    value: tuple[ParticipantProperties, ...]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class _AudioRoutingGroupCollection(GraphModel):
    odata_type: ClassVar[str] = "#microsoft.graph.audioRoutingGroupCollectionResponse"

    value: tuple[AudioRoutingGroup, ...]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class _ContentSharingSessionCollection(GraphModel):
    odata_type: ClassVar[str] = (
        "#microsoft.graph.contentSharingSessionCollectionResponse"
    )

    value: tuple[ContentSharingSession, ...]


def parse_participant_list(data: Any) -> list[ParticipantProperties]:
    """Read the ``value`` array of a participants collection response."""
    return list(from_wire(_ParticipantCollection, data).value)


def parse_audio_routing_group_list(data: Any) -> list[AudioRoutingGroup]:
    """Read the ``value`` array of an audio routing groups collection response."""
    return list(from_wire(_AudioRoutingGroupCollection, data).value)


def parse_content_sharing_session_list(data: Any) -> list[ContentSharingSession]:
    """Read the ``value`` array of a content sharing sessions collection response."""
    return list(from_wire(_ContentSharingSessionCollection, data).value)


_READERS = {
    ResponseKind.CALL: parse_call,
    ResponseKind.OPERATION: parse_operation,
    ResponseKind.PARTICIPANT: parse_participant,
    ResponseKind.PARTICIPANT_LIST: parse_participant_list,
    ResponseKind.AUDIO_ROUTING_GROUP: parse_audio_routing_group,
    ResponseKind.AUDIO_ROUTING_GROUP_LIST: parse_audio_routing_group_list,
    ResponseKind.CONTENT_SHARING_SESSION: parse_content_sharing_session,
    ResponseKind.CONTENT_SHARING_SESSION_LIST: parse_content_sharing_session_list,
}


def parse_response(kind: ResponseKind, body: bytes) -> Any:
    """Read a success response body into the model that ``kind`` names.

    Returns None for ResponseKind.NONE without reading the body.

    Raises:
        ResponseParseError: the body is not valid JSON or does not fit ``kind``.
    """
    if kind is ResponseKind.NONE:
        return None
    return _READERS[kind](parse_json(body))


@attrs.define(frozen=True, slots=True, kw_only=True)
class GraphErrorDetails:
    """The fields of a Graph error response body.

    Attributes:
        code: ``error.code``, often a numeric string for calls errors ("7505"), or
            None when the body carries none.
        message: ``error.message``, or the body text (shortened, tags removed) when
            the body is not a Graph error.
        request_id: ``request-id`` from ``innerError``, searched through nested
            ``innerError`` objects.
        client_request_id: ``client-request-id`` from ``innerError``.
        date: ``date`` from ``innerError``, as the service wrote it.
        inner: the raw ``innerError`` object, or None.
    """

    code: str | None = None
    message: str = ""
    request_id: str | None = None
    client_request_id: str | None = None
    date: str | None = None
    inner: Mapping[str, Any] | None = attrs.field(default=None, hash=False)


_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")


def _error_text_excerpt(text: str) -> str:
    if text.lstrip().startswith("<"):
        text = _TAG.sub(" ", text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > _MAX_ERROR_TEXT_LENGTH:
        text = text[: _MAX_ERROR_TEXT_LENGTH - 3] + "..."
    return text


def _find_in_inner_errors(inner: Mapping[str, Any] | None, key: str) -> str | None:
    level = inner
    for _ in range(_MAX_INNER_ERROR_DEPTH):
        if not isinstance(level, Mapping):
            return None
        value = level.get(key)
        if isinstance(value, str):
            return value
        level = level.get("innerError", level.get("innererror"))
    return None


def parse_error_body(body: bytes | str) -> GraphErrorDetails:
    """Read an error response body of any content, without raising.

    Accepts the Graph shape ``{"error": {"code", "message", "innerError"}}`` and
    falls back to the body text for anything else, such as an HTML error page.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = loads(text)
    except (ValueError, RecursionError):
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GraphErrorDetails(message=_error_text_excerpt(text))
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    message = error.get("message")
    if isinstance(message, dict):
        # The older OData JSON format nests the text: {"lang": ..., "value": ...}.
        message = message.get("value")
    inner = error.get("innerError", error.get("innererror"))
    if not isinstance(inner, dict):
        inner = None
    return GraphErrorDetails(
        code=code if isinstance(code, str) else None,
        message=message if isinstance(message, str) else "",
        request_id=_find_in_inner_errors(inner, "request-id"),
        client_request_id=_find_in_inner_errors(inner, "client-request-id"),
        date=_find_in_inner_errors(inner, "date"),
        inner=inner,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return the delay in seconds that a ``Retry-After`` header requests.

    The header contains seconds (fractions accepted, such as "2.128") or an HTTP date,
    which is measured from ``now`` (default: the current UTC time). A negative delay
    or a date in the past gives 0. A missing, empty or unreadable value gives None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def operation_id_from_location(url: str | None) -> str | None:
    """Return the operation id at the end of a ``.../operations/{id}`` URL, or None."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segments = path.rstrip("/").split("/")
    if len(segments) >= 2 and segments[-2].lower() == "operations" and segments[-1]:
        return unquote(segments[-1])
    return None
