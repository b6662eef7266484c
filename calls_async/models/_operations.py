"""Comms operations: the long-running results of media and roster actions."""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import OperationStatus, SendDtmfCompletionReason
from calls_async.models._identity import InvitationParticipantInfo

__all__ = [
    "AddLargeGalleryViewOperation",
    "CancelMediaProcessingOperation",
    "CommsOperation",
    "InviteParticipantsOperation",
    "MuteParticipantOperation",
    "PlayPromptOperation",
    "RecordOperation",
    "ResultInfo",
    "SendDtmfTonesOperation",
    "StartHoldMusicOperation",
    "StopHoldMusicOperation",
    "SubscribeToToneOperation",
    "UnmuteParticipantOperation",
    "UpdateRecordingStatusOperation",
]

_TERMINAL_STATUSES = frozenset({"completed", "failed"})


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ResultInfo(GraphModel):
    """Outcome of an operation or of a call's end.

    ``code`` is HTTP-like (2xx success, 4xx client error, 5xx service error) and
    ``subcode`` refines it, for example 8508 for a cancelled prompt or 7015 for a
    completed transfer. The converter accepts both as integers or numeric strings
    and reads the ``subCode`` spelling too.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.resultInfo"

    code: int | None = None
    subcode: int | None = None
    message: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CommsOperation(GraphModel):
    """Base of the operation models (Graph ``commsOperation``).

    An operation whose response already reports completed or failed gets no later
    notification. Otherwise its final state arrives as a notification with
    changeType ``deleted``. Statuses are compared without regard to case, because the
    service sends both ``Running`` and ``running``.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.commsOperation"

    id: str | None = None
    client_context: str | None = None
    status: OperationStatus | str | None = None
    result_info: ResultInfo | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the status is completed or failed, so no further update will come."""
        status = self.status
        return isinstance(status, str) and status.lower() in _TERMINAL_STATUSES

    @property
    def is_running(self) -> bool:
        """Whether the status is running."""
        status = self.status
        return isinstance(status, str) and status.lower() == "running"

    @property
    def succeeded(self) -> bool:
        """Whether the status is completed.

        A completed sendDtmfTones operation may still report a cancellation in its
        ``completion_reason``.
        """
        status = self.status
        return isinstance(status, str) and status.lower() == "completed"


class MuteParticipantOperation(CommsOperation):
    """Result of muting the bot or another participant."""

    odata_type: ClassVar[str] = "#microsoft.graph.muteParticipantOperation"
    __slots__ = ()


class UnmuteParticipantOperation(CommsOperation):
    """Result of unmuting the bot."""

    odata_type: ClassVar[str] = "#microsoft.graph.unmuteParticipantOperation"
    __slots__ = ()


class PlayPromptOperation(CommsOperation):
    """Result of playing prompts."""

    odata_type: ClassVar[str] = "#microsoft.graph.playPromptOperation"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class RecordOperation(CommsOperation):
    """Result of recording a response.

    Fetch the recording with ``GET recording_location`` and the header
    ``Authorization: Bearer <recording_access_token>``. The token is left out of the
    repr.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.recordOperation"

    recording_location: str | None = None
    recording_access_token: str | None = attrs.field(default=None, repr=False)


class CancelMediaProcessingOperation(CommsOperation):
    """Result of cancelling the queued and running prompts and recordings."""

    odata_type: ClassVar[str] = "#microsoft.graph.cancelMediaProcessingOperation"
    __slots__ = ()


class SubscribeToToneOperation(CommsOperation):
    """Result of subscribing to DTMF tones."""

    odata_type: ClassVar[str] = "#microsoft.graph.subscribeToToneOperation"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class SendDtmfTonesOperation(CommsOperation):
    """Result of sending DTMF tones."""

    odata_type: ClassVar[str] = "#microsoft.graph.sendDtmfTonesOperation"

    completion_reason: SendDtmfCompletionReason | str | None = None


class UpdateRecordingStatusOperation(CommsOperation):
    """Result of reporting the recording status."""

    odata_type: ClassVar[str] = "#microsoft.graph.updateRecordingStatusOperation"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class InviteParticipantsOperation(CommsOperation):
    """Result of inviting participants, with the invitations echoed back."""

    odata_type: ClassVar[str] = "#microsoft.graph.inviteParticipantsOperation"

    participants: tuple[InvitationParticipantInfo, ...] | None = None


class StartHoldMusicOperation(CommsOperation):
    """Result of putting a participant on hold."""

    odata_type: ClassVar[str] = "#microsoft.graph.startHoldMusicOperation"
    __slots__ = ()


class StopHoldMusicOperation(CommsOperation):
    """Result of taking a participant off hold."""

    odata_type: ClassVar[str] = "#microsoft.graph.stopHoldMusicOperation"
    __slots__ = ()


class AddLargeGalleryViewOperation(CommsOperation):
    """Result of adding the large gallery view to a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.addLargeGalleryViewOperation"
    __slots__ = ()
