"""Typed events that a call delivers through ``async for event in call.events()``.

Every event names its call by ``call_id``. An entry the library cannot interpret (a
new resource type, an unknown change type) arrives as :class:`UnknownNotification`
with its raw payload, never as an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from calls_async.models import (
    CallState,
    CommsOperation,
    ContentSharingSession,
    ParticipantProperties,
    ResultInfo,
    Tone,
)
from calls_async.models._base import fields_repr

__all__ = [
    "CallEnded",
    "CallEvent",
    "ContentSharingUpdated",
    "OperationCompleted",
    "RosterUpdated",
    "StateChanged",
    "ToneReceived",
    "UnknownNotification",
]


@attrs.frozen(kw_only=True, repr=False)
class CallEvent:
    """Base class of the events of one call."""

    call_id: str

    # The events inherit this repr rather than have attrs compile one for each
    # class at import.
    def __repr__(self) -> str:
        return fields_repr(self)


@attrs.frozen(kw_only=True, repr=False)
class StateChanged(CallEvent):
    """The call moved to a new state, such as established."""

    state: CallState | str
    previous: CallState | str | None
    result_info: ResultInfo | None = None


@attrs.frozen(kw_only=True, repr=False)
class ToneReceived(CallEvent):
    """The far side pressed a DTMF key (after ``subscribe_to_tone``).

    A tone whose ``sequence_id`` was already seen on the call is delivered once.
    """

    tone: Tone | str
    sequence_id: int | None


@attrs.frozen(kw_only=True, repr=False)
class RosterUpdated(CallEvent):
    """The participants of the call changed.

    Attributes:
        participants: the whole roster after the update.
        joined: participants that were not in the roster before.
        left: participants that are no longer in it.
        changed: participants whose mute, lobby or media state changed.
    """

    participants: Sequence[ParticipantProperties]
    joined: Sequence[ParticipantProperties] = ()
    left: Sequence[ParticipantProperties] = ()
    changed: Sequence[ParticipantProperties] = ()


@attrs.frozen(kw_only=True, repr=False)
class OperationCompleted(CallEvent):
    """An operation of the call reached a final status, completed or failed."""

    operation: CommsOperation
    succeeded: bool


@attrs.frozen(kw_only=True, repr=False)
class ContentSharingUpdated(CallEvent):
    """Screen sharing started, changed or ended in the call."""

    change_type: str
    sessions: Sequence[ContentSharingSession]


@attrs.frozen(kw_only=True, repr=False)
class CallEnded(CallEvent):
    """The call terminated; no further events follow for it."""

    result_info: ResultInfo | None


@attrs.frozen(kw_only=True, repr=False)
class UnknownNotification(CallEvent):
    """A notification entry of a kind this version does not interpret."""

    change_type: str
    resource_url: str
    resource_data: Any = attrs.field(repr=False)
    raw: Mapping[str, Any] = attrs.field(repr=False)
