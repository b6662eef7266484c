"""Calls and operations as the emulator stores them, and their JSON resources."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import uuid
from typing import Any

from calls_async.testing._roster import ContentSharingSession, Roster
from calls_async.testing._wire import GraphError, JsonObject, result_info

INCOMING = "incoming"
ESTABLISHING = "establishing"
ESTABLISHED = "established"
TRANSFERRING = "transferring"
TRANSFER_ACCEPTED = "transferAccepted"
TERMINATING = "terminating"
TERMINATED = "terminated"

# States in which the bot may control media and start operations on its call leg.
# An operation queued while the call is still establishing starts once established.
CONTROLLABLE_STATES = frozenset({ESTABLISHING, ESTABLISHED})

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"

PLAY_PROMPT = "playPromptOperation"
RECORD = "recordOperation"
SEND_DTMF_TONES = "sendDtmfTonesOperation"

# Properties that each operation subtype adds to commsOperation, with their value
# while the operation runs.
_SUBTYPE_FIELDS: dict[str, JsonObject] = {
    RECORD: {"recordingLocation": None, "recordingAccessToken": None},
    SEND_DTMF_TONES: {"completionReason": None},
}


def new_id() -> str:
    return str(uuid.uuid4())


def require_state(call: Call, action: str, allowed: frozenset[str]) -> None:
    """Raise a 409 GraphError unless the call is in one of the allowed states."""
    if call.state not in allowed:
        expected = " or ".join(sorted(allowed))
        raise GraphError(
            409,
            "notAllowed",
            f"{action} is not allowed on call '{call.id}' in state {call.state}; "
            f"it requires state {expected}.",
        )


@dataclasses.dataclass(slots=True, eq=False)
class Operation:
    """One commsOperation of a call."""

    call_id: str
    subtype: str
    client_context: str | None
    status: str
    id: str = dataclasses.field(default_factory=new_id)
    result_info: JsonObject | None = None
    subtype_fields: JsonObject = dataclasses.field(default_factory=dict)
    duration: float = 0.0
    waiters: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    """Futures of `wait_for_operation` calls, resolved when the operation finishes."""

    def __post_init__(self) -> None:
        defaults = _SUBTYPE_FIELDS.get(self.subtype, {})
        self.subtype_fields = {**defaults, **self.subtype_fields}

    @property
    def path(self) -> str:
        return f"/communications/calls/{self.call_id}/operations/{self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (COMPLETED, FAILED)

    def finish(
        self, status: str, result: tuple[int, int, str], **subtype_fields: Any
    ) -> None:
        self.status = status
        self.result_info = result_info(*result)
        self.subtype_fields.update(subtype_fields)
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def resource(self) -> JsonObject:
        return {
            "@odata.type": f"#microsoft.graph.{self.subtype}",
            "id": self.id,
            "clientContext": self.client_context,
            "status": self.status,
            "resultInfo": self.result_info,
            **self.subtype_fields,
        }


@dataclasses.dataclass(slots=True, eq=False)
class Call:
    """One call leg of the bot, with its operations and pending timers."""

    direction: str
    state: str
    callback_uri: str
    tenant_id: str
    source: JsonObject
    targets: list[Any]
    media_config: JsonObject | None = None
    requested_modalities: list[Any] = dataclasses.field(default_factory=list)
    call_options: JsonObject | None = None
    chat_info: JsonObject | None = None
    meeting_info: JsonObject | None = None
    subject: str | None = None
    incoming_context: JsonObject | None = None
    id: str = dataclasses.field(default_factory=new_id)
    call_chain_id: str = dataclasses.field(default_factory=new_id)
    my_participant_id: str = dataclasses.field(default_factory=new_id)
    result_info: JsonObject | None = None
    tone_info: JsonObject | None = None

    operations: dict[str, Operation] = dataclasses.field(default_factory=dict)
    media_queue: collections.deque[Operation] = dataclasses.field(
        default_factory=collections.deque
    )
    running_media: Operation | None = None
    media_timer: asyncio.TimerHandle | None = None
    keep_alive_timer: asyncio.TimerHandle | None = None
    timers: set[asyncio.TimerHandle] = dataclasses.field(default_factory=set)
    tones_subscribed: bool = False
    tone_sequence_id: int = 0
    screen_sharing_role: str | None = None
    recording_status: str | None = None
    etag: int = 1

    roster: Roster = dataclasses.field(default_factory=Roster)
    audio_routing_groups: dict[str, JsonObject] = dataclasses.field(
        default_factory=dict
    )
    """audioRoutingGroup resources by lower-case id."""
    content_sharing_sessions: dict[str, ContentSharingSession] = dataclasses.field(
        default_factory=dict
    )
    """Sessions by lower-case id."""

    @property
    def path(self) -> str:
        return f"/communications/calls/{self.id}"

    @property
    def is_service_hosted(self) -> bool:
        media_type = (self.media_config or {}).get("@odata.type")
        return media_type == "#microsoft.graph.serviceHostedMediaConfig"

    @property
    def is_group(self) -> bool:
        """Whether this is a group call or meeting rather than a peer-to-peer call."""
        return (
            len(self.targets) >= 2
            or self.meeting_info is not None
            or self.chat_info is not None
        )

    def has_option(self, name: str) -> bool:
        """Return whether the call's callOptions set the boolean `name` to true."""
        return (self.call_options or {}).get(name) is True

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        self.media_timer = None
        self.keep_alive_timer = None

    def resource(self) -> JsonObject:
        return {
            "@odata.type": "#microsoft.graph.call",
            "id": self.id,
            "state": self.state,
            "direction": self.direction,
            "callbackUri": self.callback_uri,
            "callChainId": self.call_chain_id,
            "myParticipantId": self.my_participant_id,
            "tenantId": self.tenant_id,
            "source": self.source,
            "targets": self.targets,
            "requestedModalities": self.requested_modalities,
            "mediaConfig": self.media_config,
            "callOptions": self.call_options,
            "chatInfo": self.chat_info,
            "meetingInfo": self.meeting_info,
            "subject": self.subject,
            "incomingContext": self.incoming_context,
            "callRoutes": [],
            "mediaState": None,
            "resultInfo": self.result_info,
            "toneInfo": self.tone_info,
            "transcription": None,
        }

    def notification_resource(self) -> JsonObject:
        """Return the resource with the `@odata.id` and `@odata.etag` to notify."""
        self.etag += 1
        return {
            "@odata.id": self.path,
            "@odata.etag": f'W/"{self.etag}"',
            **self.resource(),
        }
