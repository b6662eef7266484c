"""The call resource and the types only a call uses."""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import (
    CallDirection,
    CallState,
    CallTranscriptionState,
    Modality,
    RoutingType,
)
from calls_async.models._identity import (
    IdentitySet,
    InvitationParticipantInfo,
    ParticipantInfo,
)
from calls_async.models._media import CallMediaState, MediaConfig, ToneInfo
from calls_async.models._operations import ResultInfo

__all__ = [
    "CallOptions",
    "CallProperties",
    "CallRoute",
    "CallTranscriptionInfo",
    "ChatInfo",
    "IncomingCallOptions",
    "IncomingContext",
    "JoinMeetingIdMeetingInfo",
    "MeetingInfo",
    "OrganizerMeetingInfo",
    "OutgoingCallOptions",
    "TokenMeetingInfo",
]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CallOptions(GraphModel):
    """Options of a call (abstract Graph ``callOptions``).

    Use :class:`OutgoingCallOptions` when creating a call and
    :class:`IncomingCallOptions` when answering one.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.callOptions"

    hide_bot_after_escalation: bool | None = None
    # Send contentSharingSession notifications for this call.
    is_content_sharing_notification_enabled: bool | None = None
    # Publish roster changes as deltaParticipants instead of the full roster.
    is_delta_roster_enabled: bool | None = None
    # Like the delta roster, but filtered by how interactive each participant is.
    is_interactive_roster_enabled: bool | None = None


class OutgoingCallOptions(CallOptions):
    """Options of a call the bot creates."""

    odata_type: ClassVar[str] = "#microsoft.graph.outgoingCallOptions"
    __slots__ = ()


class IncomingCallOptions(CallOptions):
    """Options of a call the bot answers."""

    odata_type: ClassVar[str] = "#microsoft.graph.incomingCallOptions"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ChatInfo(GraphModel):
    """The chat thread of a meeting, from its join URL or onlineMeeting resource."""

    odata_type: ClassVar[str] = "#microsoft.graph.chatInfo"

    thread_id: str | None = None
    # "0" for the meeting's root message.
    message_id: str | None = None
    reply_chain_message_id: str | None = None


class MeetingInfo(GraphModel):
    """How to find the meeting to join (abstract Graph ``meetingInfo``).

    Use :class:`OrganizerMeetingInfo`, :class:`TokenMeetingInfo` or
    :class:`JoinMeetingIdMeetingInfo`.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.meetingInfo"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class OrganizerMeetingInfo(MeetingInfo):
    """A scheduled meeting identified by its organizer (with the call's chatInfo)."""

    odata_type: ClassVar[str] = "#microsoft.graph.organizerMeetingInfo"

    organizer: IdentitySet


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class TokenMeetingInfo(MeetingInfo):
    """A meeting identified by a token, which is left out of the repr."""

    odata_type: ClassVar[str] = "#microsoft.graph.tokenMeetingInfo"

    token: str = attrs.field(repr=False)


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class JoinMeetingIdMeetingInfo(MeetingInfo):
    """A meeting identified by its join meeting id.

    The passcode is left out of the repr.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.joinMeetingIdMeetingInfo"

    join_meeting_id: str
    passcode: str | None = attrs.field(default=None, repr=False)


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CallRoute(GraphModel):
    """One retargeting step of a call, such as a forward."""

    odata_type: ClassVar[str] = "#microsoft.graph.callRoute"

    original: IdentitySet | None = None
    final: IdentitySet | None = None
    routing_type: RoutingType | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class IncomingContext(GraphModel):
    """The source of an incoming call and the party it calls on behalf of."""

    odata_type: ClassVar[str] = "#microsoft.graph.incomingContext"

    source_participant_id: str | None = None
    observed_participant_id: str | None = None
    on_behalf_of: IdentitySet | None = None
    transferor: IdentitySet | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CallTranscriptionInfo(GraphModel):
    """Transcription state of a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.callTranscriptionInfo"

    state: CallTranscriptionState | str | None = None
    # ISO 8601 timestamp as the service sent it, such as "2030-01-01T00:00:00Z".
    last_modified_date_time: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CallProperties(GraphModel):
    """The properties of a call (Graph ``call``).

    Named so because ``Call`` is the library's handle to a live call. Every field is
    optional: notifications carry partial calls (a tone notification may hold only
    ``state`` and ``tone_info``), and the create request needs only the fields the
    protocol layer checks.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.call"

    id: str | None = None
    state: CallState | str | None = None
    direction: CallDirection | str | None = None
    callback_uri: str | None = None
    # One id for every leg of a conference and both legs of a peer-to-peer call.
    call_chain_id: str | None = None
    call_options: CallOptions | None = None
    call_routes: tuple[CallRoute, ...] | None = None
    chat_info: ChatInfo | None = None
    incoming_context: IncomingContext | None = None
    media_config: MediaConfig | None = None
    media_state: CallMediaState | None = None
    meeting_info: MeetingInfo | None = None
    # The bot's own participant id in the roster.
    my_participant_id: str | None = None
    requested_modalities: tuple[Modality | str, ...] | None = None
    result_info: ResultInfo | None = None
    source: ParticipantInfo | None = None
    subject: str | None = None
    targets: tuple[InvitationParticipantInfo, ...] | None = None
    tenant_id: str | None = None
    tone_info: ToneInfo | None = None
    transcription: CallTranscriptionInfo | None = None
