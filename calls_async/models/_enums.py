"""Enumerations of the Graph communications API.

Members are UPPER_SNAKE in Python and their values are the wire strings of the v1.0
schema. Every enum is a ``StrEnum``, so a member compares equal to its wire string.

Fields that hold an enum are typed ``SomeEnum | str``. The converter matches a wire
value without regard to case and keeps a value this version does not know as the raw
string.
"""

from __future__ import annotations

import enum

__all__ = [
    "CallDirection",
    "CallState",
    "CallTranscriptionState",
    "ChangeType",
    "EndpointType",
    "MediaDirection",
    "MediaState",
    "Modality",
    "OnlineMeetingContentSharingDisabledReason",
    "OnlineMeetingVideoDisabledReason",
    "OperationStatus",
    "RecordingStatus",
    "RejectReason",
    "RoutingMode",
    "RoutingType",
    "ScreenSharingRole",
    "SendDtmfCompletionReason",
    "Tone",
]


class CallState(enum.StrEnum):
    """State of a call."""

    INCOMING = "incoming"
    ESTABLISHING = "establishing"
    # The resource page lists ringing, but the v1.0 schema does not.
    RINGING = "ringing"
    ESTABLISHED = "established"
    HOLD = "hold"
    TRANSFERRING = "transferring"
    TRANSFER_ACCEPTED = "transferAccepted"
    REDIRECTING = "redirecting"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class CallDirection(enum.StrEnum):
    """Direction of a call as seen by the bot."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Modality(enum.StrEnum):
    """Media modality of a call or stream."""

    # The resource pages list unknown, but the v1.0 schema does not.
    UNKNOWN = "unknown"
    AUDIO = "audio"
    VIDEO = "video"
    VIDEO_BASED_SCREEN_SHARING = "videoBasedScreenSharing"
    DATA = "data"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class MediaState(enum.StrEnum):
    """Whether a call's media is flowing."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class RoutingType(enum.StrEnum):
    """Kind of retargeting of a call (callRoute.routingType)."""

    FORWARDED = "forwarded"
    LOOKUP = "lookup"
    SELF_FORK = "selfFork"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class EndpointType(enum.StrEnum):
    """Kind of endpoint a participant uses."""

    DEFAULT = "default"
    VOICEMAIL = "voicemail"
    SKYPE_FOR_BUSINESS = "skypeForBusiness"
    SKYPE_FOR_BUSINESS_VOIP_PHONE = "skypeForBusinessVoipPhone"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class RejectReason(enum.StrEnum):
    """Reason given when rejecting an incoming call."""

    NONE = "none"
    BUSY = "busy"
    FORBIDDEN = "forbidden"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class ScreenSharingRole(enum.StrEnum):
    """Screen sharing role of the bot in an app-hosted media call."""

    VIEWER = "viewer"
    SHARER = "sharer"


class RecordingStatus(enum.StrEnum):
    """Recording status reported with updateRecordingStatus."""

    UNKNOWN = "unknown"
    NOT_RECORDING = "notRecording"
    RECORDING = "recording"
    FAILED = "failed"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class Tone(enum.StrEnum):
    """A DTMF tone."""

    TONE0 = "tone0"
    TONE1 = "tone1"
    TONE2 = "tone2"
    TONE3 = "tone3"
    TONE4 = "tone4"
    TONE5 = "tone5"
    TONE6 = "tone6"
    TONE7 = "tone7"
    TONE8 = "tone8"
    TONE9 = "tone9"
    STAR = "star"
    POUND = "pound"
    A = "a"
    B = "b"
    C = "c"
    D = "d"
    FLASH = "flash"


class MediaDirection(enum.StrEnum):
    """Direction of a media stream."""

    INACTIVE = "inactive"
    SEND_ONLY = "sendOnly"
    RECEIVE_ONLY = "receiveOnly"
    SEND_RECEIVE = "sendReceive"


class RoutingMode(enum.StrEnum):
    """Routing mode of an audio routing group."""

    ONE_TO_ONE = "oneToOne"
    MULTICAST = "multicast"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class SendDtmfCompletionReason(enum.StrEnum):
    """Reason a sendDtmfTones operation finished."""

    UNKNOWN = "unknown"
    COMPLETED_SUCCESSFULLY = "completedSuccessfully"
    MEDIA_OPERATION_CANCELED = "mediaOperationCanceled"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class ChangeType(enum.StrEnum):
    """Change type of a notification entry."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class OperationStatus(enum.StrEnum):
    """Status of a comms operation.

    The v1.0 schema spells the members in PascalCase (``Running``) and most payloads
    in lower case (``running``). The converter matches either, and the values here are
    the lower-case spelling.
    """

    NOT_STARTED = "notStarted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class CallTranscriptionState(enum.StrEnum):
    """Transcription state of a call."""

    NOT_STARTED = "notStarted"
    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class OnlineMeetingContentSharingDisabledReason(enum.StrEnum):
    """Reason content sharing is disabled for a participant."""

    WATERMARK_PROTECTION = "watermarkProtection"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class OnlineMeetingVideoDisabledReason(enum.StrEnum):
    """Reason video is disabled for a participant."""

    WATERMARK_PROTECTION = "watermarkProtection"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"
