"""Participants of a call: the collection, one participant's actions, and the roster.

``call.participants`` sends requests (list, get, invite); ``call.roster`` is the
last roster the service notified, kept without requests. A full roster notification
replaces the roster. With delta roster enabled (``is_delta_roster_enabled`` in the
call options), a notification carries only the participants that changed since the
previous one. A participant with ``removed_state`` has left. Deltas whose sequence
number is not newer than the last one applied are ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING

import attrs

from calls_async import _protocol
from calls_async._config import USE_CLIENT_DEFAULT, Timeout, fold_id
from calls_async._events import RosterUpdated
from calls_async._operations import Operation, new_client_context
from calls_async._retry import Retry
from calls_async.models import (
    InvitationParticipantInfo,
    InviteParticipantsOperation,
    MediaPrompt,
    MuteParticipantOperation,
    ParticipantProperties,
    Prompt,
    StartHoldMusicOperation,
    StopHoldMusicOperation,
)

if TYPE_CHECKING:
    from calls_async._calls import Call

__all__ = ["Participant", "ParticipantCollection", "Roster"]


class Participant:
    """A reference to one participant of a call, with its last known properties."""

    __slots__ = ("_call", "id", "properties")

    def __init__(
        self,
        call: Call,
        participant_id: str,
        properties: ParticipantProperties | None = None,
    ) -> None:
        self._call = call
        self.id = participant_id
        self.properties = properties
        """The participant as last returned or notified, or None."""

    def __repr__(self) -> str:
        return f"<Participant id={self.id!r} call={self._call.id!r}>"

    @property
    def call(self) -> Call:
        """The call the participant is in."""
        return self._call

    async def refresh(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> ParticipantProperties:
        """Fetch the participant (GET) and return its properties."""
        request = _protocol.get_participant(self._call.id, self.id)
        props = await self._call._send(request, timeout, retry)
        assert isinstance(props, ParticipantProperties)
        self.properties = props
        return props

    async def mute(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[MuteParticipantOperation]:
        """Mute the participant on the server; a roster update follows.

        Graph v1.0 has no participant unmute: participants unmute themselves.
        """
        context = client_context or new_client_context()
        request = _protocol.mute_participant(
            self._call.id, self.id, client_context=context
        )
        return await self._call._send_operation(
            request, MuteParticipantOperation, context, timeout, retry
        )

    async def start_hold_music(
        self,
        *,
        custom_prompt: Prompt | str | None = None,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[StartHoldMusicOperation]:
        """Put the participant on hold with music; one participant at a time.

        ``custom_prompt`` (a prompt or the https URI of a WAV file) replaces the
        default music.
        """
        context = client_context or new_client_context()
        prompt = (
            MediaPrompt.from_uri(custom_prompt)
            if isinstance(custom_prompt, str)
            else custom_prompt
        )
        request = _protocol.start_hold_music(
            self._call.id, self.id, custom_prompt=prompt, client_context=context
        )
        return await self._call._send_operation(
            request, StartHoldMusicOperation, context, timeout, retry
        )

    async def stop_hold_music(
        self,
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[StopHoldMusicOperation]:
        """Take the participant off hold."""
        context = client_context or new_client_context()
        request = _protocol.stop_hold_music(
            self._call.id, self.id, client_context=context
        )
        return await self._call._send_operation(
            request, StopHoldMusicOperation, context, timeout, retry
        )

    async def remove(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Remove the participant from the call, or cancel a pending invitation."""
        request = _protocol.remove_participant(self._call.id, self.id)
        await self._call._send(request, timeout, retry)
        self._call.roster._remove(self.id)


class ParticipantCollection:
    """The participants of one call, fetched from the service."""

    __slots__ = ("_call",)

    def __init__(self, call: Call) -> None:
        self._call = call

    def __getitem__(self, participant_id: str) -> Participant:
        if not isinstance(participant_id, str) or not participant_id:
            raise ValueError(
                f"participant id {participant_id!r} is not valid; give the "
                "participant's id string"
            )
        return Participant(
            self._call, participant_id, self._call.roster.get(participant_id)
        )

    async def list(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> list[Participant]:
        """Fetch the participants of the call (GET)."""
        request = _protocol.list_participants(self._call.id)
        items = await self._call._send(request, timeout, retry)
        return [Participant(self._call, p.id or "", p) for p in items]

    async def __aiter__(self) -> AsyncIterator[Participant]:
        for participant in await self.list():
            yield participant

    async def get(
        self,
        participant_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Participant:
        """Fetch one participant by id (GET)."""
        participant = self[participant_id]
        await participant.refresh(timeout=timeout, retry=retry)
        return participant

    async def invite(
        self,
        participants: Sequence[InvitationParticipantInfo],
        *,
        client_context: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> Operation[InviteParticipantsOperation]:
        """Invite 1 to 5 participants into a group call.

        The handle completes when the invitation succeeds and fails with
        OperationFailed when it does not (for example when nobody answers). Set
        ``replaces_call_id`` on an invitee to move them out of another call.
        """
        context = client_context or new_client_context()
        request = _protocol.invite_participants(
            self._call.id, participants=participants, client_context=context
        )
        props = self._call.properties
        if len(participants) > 1 and props is not None and props.chat_info is None:
            raise ValueError(
                f"inviting {len(participants)} participants at once needs a call with "
                f"chat_info, and call {self._call.id} has none; invite them one per "
                "request"
            )
        return await self._call._send_operation(
            request, InviteParticipantsOperation, context, timeout, retry
        )


_TRACKED_FIELDS = ("is_muted", "is_in_lobby", "media_streams")


@attrs.frozen
class _Diff:
    joined: list[ParticipantProperties]
    left: list[ParticipantProperties]
    changed: list[ParticipantProperties]


class Roster:
    """The participants of a call, as the service last notified them.

    Participants are keyed by id without case. The roster is empty until the first
    roster notification; peer-to-peer calls get none.
    """

    __slots__ = ("_call", "_participants", "sequence_number")

    def __init__(self, call: Call) -> None:
        self._call = call
        self._participants: dict[str, ParticipantProperties] = {}
        self.sequence_number: int | None = None
        """The sequence number of the last delta applied, when delta roster is on."""

    def __len__(self) -> int:
        return len(self._participants)

    def __iter__(self) -> Iterator[ParticipantProperties]:
        return iter(list(self._participants.values()))

    def __contains__(self, participant_id: object) -> bool:
        return (
            isinstance(participant_id, str)
            and fold_id(participant_id) in self._participants
        )

    def get(self, participant_id: str) -> ParticipantProperties | None:
        """Return the participant with this id, or None."""
        return self._participants.get(fold_id(participant_id))

    @property
    def participants(self) -> list[ParticipantProperties]:
        """Everyone in the roster, in the lobby or not."""
        return list(self._participants.values())

    @property
    def in_call(self) -> list[ParticipantProperties]:
        """Participants in the call and not waiting in the lobby."""
        return [p for p in self._participants.values() if not p.is_in_lobby]

    @property
    def in_lobby(self) -> list[ParticipantProperties]:
        """Participants waiting in the meeting lobby."""
        return [p for p in self._participants.values() if p.is_in_lobby]

    @property
    def muted(self) -> list[ParticipantProperties]:
        """Participants who are muted."""
        return [p for p in self._participants.values() if p.is_muted]

    def _replace(self, participants: Sequence[ParticipantProperties]) -> _Diff:
        new = {fold_id(p.id): p for p in participants if p.id}
        old = self._participants
        joined = [p for key, p in new.items() if key not in old]
        left = [p for key, p in old.items() if key not in new]
        changed = [p for key, p in new.items() if key in old and _differs(old[key], p)]
        self._participants = new
        return _Diff(joined, left, changed)

    def _apply_delta(
        self, participants: Sequence[ParticipantProperties], sequence: int | None
    ) -> _Diff | None:
        if sequence is not None:
            if self.sequence_number is not None and sequence <= self.sequence_number:
                return None
            self.sequence_number = sequence
        diff = _Diff([], [], [])
        for p in participants:
            if not p.id:
                continue
            key = fold_id(p.id)
            before = self._participants.get(key)
            if p.removed_state is not None:
                if before is not None:
                    del self._participants[key]
                    diff.left.append(before)
                continue
            self._participants[key] = p
            if before is None:
                diff.joined.append(p)
            elif _differs(before, p):
                diff.changed.append(p)
        return diff

    def _remove(self, participant_id: str) -> None:
        before = self._participants.pop(fold_id(participant_id), None)
        if before is not None:
            self._emit(_Diff([], [before], []))

    def _emit(self, diff: _Diff) -> None:
        self._call._emit(
            RosterUpdated(
                call_id=self._call.id,
                participants=self.participants,
                joined=tuple(diff.joined),
                left=tuple(diff.left),
                changed=tuple(diff.changed),
            )
        )

    def update(
        self,
        participants: Sequence[ParticipantProperties],
        *,
        delta: bool,
        sequence: int | None = None,
    ) -> None:
        """Apply a roster notification and emit a RosterUpdated event."""
        diff = (
            self._apply_delta(participants, sequence)
            if delta
            else self._replace(participants)
        )
        if diff is not None:
            self._emit(diff)


def _differs(before: ParticipantProperties, after: ParticipantProperties) -> bool:
    return any(getattr(before, f) != getattr(after, f) for f in _TRACKED_FIELDS)
