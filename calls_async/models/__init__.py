"""Graph communications models, enums and their wire converter.

The models are frozen attrs classes with snake_case fields. ``to_wire`` and
``from_wire`` convert them to and from Graph's camelCase JSON.
"""

from __future__ import annotations

import typing

from calls_async.models._base import (
    GraphModel,
)
from calls_async.models._call import (
    CallOptions,
    CallProperties,
    CallRoute,
    CallTranscriptionInfo,
    ChatInfo,
    IncomingCallOptions,
    IncomingContext,
    JoinMeetingIdMeetingInfo,
    MeetingInfo,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    TokenMeetingInfo,
)
from calls_async.models._converter import from_wire, to_wire
from calls_async.models._enums import (
    CallDirection,
    CallState,
    CallTranscriptionState,
    ChangeType,
    EndpointType,
    MediaDirection,
    MediaState,
    Modality,
    OnlineMeetingContentSharingDisabledReason,
    OnlineMeetingVideoDisabledReason,
    OperationStatus,
    RecordingStatus,
    RejectReason,
    RoutingMode,
    RoutingType,
    ScreenSharingRole,
    SendDtmfCompletionReason,
    Tone,
)
from calls_async.models._identity import (
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    ParticipantInfo,
)
from calls_async.models._media import (
    AppHostedMediaConfig,
    CallMediaState,
    MediaConfig,
    MediaInfo,
    MediaPrompt,
    MediaStream,
    Prompt,
    ServiceHostedMediaConfig,
    ToneInfo,
)
from calls_async.models._notifications import (
    CommsNotification,
    CommsNotifications,
)
from calls_async.models._operations import (
    AddLargeGalleryViewOperation,
    CancelMediaProcessingOperation,
    CommsOperation,
    InviteParticipantsOperation,
    MuteParticipantOperation,
    PlayPromptOperation,
    RecordOperation,
    ResultInfo,
    SendDtmfTonesOperation,
    StartHoldMusicOperation,
    StopHoldMusicOperation,
    SubscribeToToneOperation,
    UnmuteParticipantOperation,
    UpdateRecordingStatusOperation,
)
from calls_async.models._participant import (
    AudioRoutingGroup,
    ContentSharingSession,
    DeltaParticipants,
    OnlineMeetingRestricted,
    ParticipantProperties,
    RecordingInfo,
    RemovedState,
)

if typing.TYPE_CHECKING:
    from calls_async.models._quality import (
        TeleconferenceDeviceAudioQuality,
        TeleconferenceDeviceMediaQuality,
        TeleconferenceDeviceQuality,
        TeleconferenceDeviceScreenSharingQuality,
        TeleconferenceDeviceVideoQuality,
    )

__all__ = [
    "AddLargeGalleryViewOperation",
    "AppHostedMediaConfig",
    "AudioRoutingGroup",
    "CallDirection",
    "CallMediaState",
    "CallOptions",
    "CallProperties",
    "CallRoute",
    "CallState",
    "CallTranscriptionInfo",
    "CallTranscriptionState",
    "CancelMediaProcessingOperation",
    "ChangeType",
    "ChatInfo",
    "CommsNotification",
    "CommsNotifications",
    "CommsOperation",
    "ContentSharingSession",
    "DeltaParticipants",
    "EndpointType",
    "GraphModel",
    "Identity",
    "IdentitySet",
    "IncomingCallOptions",
    "IncomingContext",
    "InvitationParticipantInfo",
    "InviteParticipantsOperation",
    "JoinMeetingIdMeetingInfo",
    "MediaConfig",
    "MediaDirection",
    "MediaInfo",
    "MediaPrompt",
    "MediaState",
    "MediaStream",
    "MeetingInfo",
    "Modality",
    "MuteParticipantOperation",
    "OnlineMeetingContentSharingDisabledReason",
    "OnlineMeetingRestricted",
    "OnlineMeetingVideoDisabledReason",
    "OperationStatus",
    "OrganizerMeetingInfo",
    "OutgoingCallOptions",
    "ParticipantInfo",
    "ParticipantProperties",
    "PlayPromptOperation",
    "Prompt",
    "RecordOperation",
    "RecordingInfo",
    "RecordingStatus",
    "RejectReason",
    "RemovedState",
    "ResultInfo",
    "RoutingMode",
    "RoutingType",
    "ScreenSharingRole",
    "SendDtmfCompletionReason",
    "SendDtmfTonesOperation",
    "ServiceHostedMediaConfig",
    "StartHoldMusicOperation",
    "StopHoldMusicOperation",
    "SubscribeToToneOperation",
    "TeleconferenceDeviceAudioQuality",
    "TeleconferenceDeviceMediaQuality",
    "TeleconferenceDeviceQuality",
    "TeleconferenceDeviceScreenSharingQuality",
    "TeleconferenceDeviceVideoQuality",
    "TokenMeetingInfo",
    "Tone",
    "ToneInfo",
    "UnmuteParticipantOperation",
    "UpdateRecordingStatusOperation",
    "from_wire",
    "to_wire",
]

# Only log_teleconference_device_quality uses the device quality models, so their
# module is imported on the first access to one of these names, which keeps it out of
# the import time of the package.
_QUALITY_NAMES = frozenset(
    {
        "TeleconferenceDeviceAudioQuality",
        "TeleconferenceDeviceMediaQuality",
        "TeleconferenceDeviceQuality",
        "TeleconferenceDeviceScreenSharingQuality",
        "TeleconferenceDeviceVideoQuality",
    }
)


# Hidden from type checkers, which would accept any attribute name of a module that
# defines __getattr__. They read the names from the TYPE_CHECKING import above.
if not typing.TYPE_CHECKING:

    def __getattr__(name: str) -> typing.Any:
        """Import the device quality models on first access (PEP 562)."""
        if name not in _QUALITY_NAMES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from calls_async.models import _quality

        # Later lookups find the names in the module dict and skip this function.
        for quality_name in _QUALITY_NAMES:
            globals()[quality_name] = getattr(_quality, quality_name)
        return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | _QUALITY_NAMES)
