"""Participants, audio routing groups and content sharing sessions."""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import (
    OnlineMeetingContentSharingDisabledReason,
    OnlineMeetingVideoDisabledReason,
    RecordingStatus,
    RoutingMode,
)
from calls_async.models._identity import IdentitySet, ParticipantInfo
from calls_async.models._media import MediaStream

__all__ = [
    "AudioRoutingGroup",
    "ContentSharingSession",
    "DeltaParticipants",
    "OnlineMeetingRestricted",
    "ParticipantProperties",
    "RecordingInfo",
    "RemovedState",
]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class RecordingInfo(GraphModel):
    """The initiator and status of a participant's recording."""

    odata_type: ClassVar[str] = "#microsoft.graph.recordingInfo"

    initiator: IdentitySet | None = None
    recording_status: RecordingStatus | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class RemovedState(GraphModel):
    """The reason a participant left the roster."""

    odata_type: ClassVar[str] = "#microsoft.graph.removedState"

    reason: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class OnlineMeetingRestricted(GraphModel):
    """Meeting features turned off for a participant, with the reason."""

    odata_type: ClassVar[str] = "#microsoft.graph.onlineMeetingRestricted"

    content_sharing_disabled: OnlineMeetingContentSharingDisabledReason | str | None = (
        None
    )
    video_disabled: OnlineMeetingVideoDisabledReason | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ParticipantProperties(GraphModel):
    """The properties of a participant (Graph ``participant``).

    Named so because ``Participant`` is the library's handle to a roster entry.
    ``id`` may be None in a roster entry sent right after an invitation.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.participant"

    id: str | None = None
    info: ParticipantInfo | None = None
    is_in_lobby: bool | None = None
    is_muted: bool | None = None
    media_streams: tuple[MediaStream, ...] | None = None
    # An opaque blob the participant published.
    metadata: str | None = None
    recording_info: RecordingInfo | None = None
    removed_state: RemovedState | None = None
    restricted_experience: OnlineMeetingRestricted | None = None
    roster_sequence_number: int | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class DeltaParticipants(GraphModel):
    """The participants changed since the previous roster update.

    Sent instead of the full roster when the call enables the delta roster.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.deltaParticipants"

    id: str | None = None
    sequence_number: int | None = None
    participants: tuple[ParticipantProperties, ...] | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class AudioRoutingGroup(GraphModel):
    """A private audio mix between participants of an app-hosted media call.

    ``one_to_one`` needs exactly one source and one receiver. ``multicast`` sends one
    source to many receivers. Sources and receivers are participant ids.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.audioRoutingGroup"

    routing_mode: RoutingMode | str
    # The client may choose the id when creating the group.
    id: str | None = None
    sources: tuple[str, ...] | None = None
    receivers: tuple[str, ...] | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ContentSharingSession(GraphModel):
    """A screen or content sharing session in a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.contentSharingSession"

    id: str | None = None
