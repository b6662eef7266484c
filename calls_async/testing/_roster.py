"""The participants of one call, their JSON resources and the roster sequence.

Every change to a roster gets the next roster sequence number, and each
participant changed by it carries that number in `rosterSequenceNumber`. Pending
invitees are not participants yet: they join the roster when their invitation
succeeds.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from calls_async.testing._wire import JsonObject

if TYPE_CHECKING:
    from calls_async.testing._state import Operation

IDENTITY_SET = "#microsoft.graph.identitySet"
MAIN_AUDIO_LABEL = "main-audio"
SCREEN_SHARING_LABEL = "applicationsharing-video"


def identity_set(identity: Mapping[str, Any]) -> JsonObject:
    """Return the identitySet with its `@odata.type`, as the service sends it."""
    return {"@odata.type": IDENTITY_SET, **identity}


def identity_ids(identity: Mapping[str, Any]) -> list[str]:
    """Return the ids of every identity (user, phone, guest...) in an identitySet."""
    return [
        value["id"]
        for value in identity.values()
        if isinstance(value, dict) and isinstance(value.get("id"), str)
    ]


@dataclasses.dataclass(slots=True, eq=False)
class Participant:
    """One participant of a call, the bot's own included."""

    id: str
    identity: JsonObject
    source_id: str
    """The sourceId of the participant's media streams, unique within the call."""
    is_bot: bool = False
    is_in_lobby: bool = False
    client_muted: bool = False
    """Muted on the participant's own device, as the simulation API sets it."""
    server_muted: bool = False
    """Muted by the bot with a mute action."""
    on_hold: bool = False
    sharing_session_id: str | None = None
    roster_sequence_number: int = 0
    removed_reason: str | None = None

    @property
    def is_muted(self) -> bool:
        # A participant waiting in the lobby sends no media, as in the reference's
        # roster example, where the lobby entry is muted and has no streams.
        return self.client_muted or self.server_muted or self.is_in_lobby

    def resource(self) -> JsonObject:
        removed_state = None
        if self.removed_reason is not None:
            removed_state = {
                "@odata.type": "#microsoft.graph.removedState",
                "reason": self.removed_reason,
            }
        return {
            "@odata.type": "#microsoft.graph.participant",
            "id": self.id,
            "info": self._info(),
            "mediaStreams": self._media_streams(),
            "isMuted": self.is_muted,
            "isInLobby": self.is_in_lobby,
            "metadata": None,
            "recordingInfo": None,
            "removedState": removed_state,
            "restrictedExperience": None,
            "rosterSequenceNumber": self.roster_sequence_number,
        }

    def _info(self) -> JsonObject:
        return {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": self.identity,
            "participantId": self.id,
            "countryCode": None,
            "endpointType": None if self.is_bot else "default",
            "languageId": None if self.is_bot else "en-US",
            "region": None if self.is_bot else "amer",
        }

    def _media_streams(self) -> list[JsonObject]:
        if self.is_in_lobby:
            return []
        streams = [
            {
                "@odata.type": "#microsoft.graph.mediaStream",
                "mediaType": "audio",
                "sourceId": self.source_id,
                "direction": "sendReceive",
                "serverMuted": self.server_muted,
                "label": MAIN_AUDIO_LABEL,
            }
        ]
        if self.sharing_session_id is not None:
            streams.append(
                {
                    "@odata.type": "#microsoft.graph.mediaStream",
                    "mediaType": "videoBasedScreenSharing",
                    "sourceId": f"{self.source_id}-share",
                    "direction": "sendOnly",
                    "serverMuted": False,
                    "label": SCREEN_SHARING_LABEL,
                }
            )
        return streams


@dataclasses.dataclass(slots=True, eq=False)
class Invitee:
    """One person invited by a participants invite, until they join or fail."""

    participant_id: str
    identity: JsonObject
    replaces_call_id: str | None
    settled: bool = False
    failure: tuple[int, int, str] | None = None
    """The resultInfo of a failed or cancelled invitation; None once joined."""


@dataclasses.dataclass(slots=True, eq=False)
class Invitation:
    """One participants invite: its operation and the people it invites."""

    operation: Operation
    invitees: list[Invitee]

    @property
    def is_settled(self) -> bool:
        return all(invitee.settled for invitee in self.invitees)


@dataclasses.dataclass(slots=True, eq=False)
class ContentSharingSession:
    id: str
    participant_id: str

    def resource(self) -> JsonObject:
        return {"@odata.type": "#microsoft.graph.contentSharingSession", "id": self.id}


class Roster:
    """The participants of one call by lower-case id, and its pending invitees."""

    def __init__(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.invitees: dict[str, tuple[Invitation, Invitee]] = {}
        self.sequence_number = 0
        self.announced = False
        """Whether the bot has received the roster; changes are sent only after."""
        self._source_ids = 0

    def __len__(self) -> int:
        return len(self.participants)

    def get(self, participant_id: str) -> Participant | None:
        return self.participants.get(participant_id.lower())

    def has_id(self, participant_id: str) -> bool:
        key = participant_id.lower()
        return key in self.participants or key in self.invitees

    def add(
        self,
        identity: Mapping[str, Any],
        *,
        participant_id: str | None = None,
        is_bot: bool = False,
        in_lobby: bool = False,
        muted: bool = False,
    ) -> Participant:
        self._source_ids += 1
        participant = Participant(
            id=participant_id or str(uuid.uuid4()),
            identity=identity_set(identity),
            source_id=str(self._source_ids),
            is_bot=is_bot,
            is_in_lobby=in_lobby,
            client_muted=muted,
        )
        self.participants[participant.id.lower()] = participant
        return participant

    def remove(self, participant: Participant, reason: str) -> None:
        participant.removed_reason = reason
        self.participants.pop(participant.id.lower(), None)

    def held_participant(self) -> Participant | None:
        for participant in self.participants.values():
            if participant.on_hold:
                return participant
        return None

    def stamp(self, changed: Iterable[Participant]) -> int:
        """Give the changed participants the next roster sequence number."""
        self.sequence_number += 1
        for participant in changed:
            participant.roster_sequence_number = self.sequence_number
        return self.sequence_number

    def resources(self) -> list[JsonObject]:
        return [participant.resource() for participant in self.participants.values()]
