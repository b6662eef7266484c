"""The emulator's own reading of the Graph calls wire format.

This module deliberately shares nothing with the client's models, so a mistake in
one reading of the contract shows up as a disagreement with the other.
"""

from __future__ import annotations

import datetime
from typing import Any

JsonObject = dict[str, Any]

GRAPH_TYPE_PREFIX = "#microsoft.graph."
ACTION_PREFIX = "microsoft.graph."

SERVICE_HOSTED_MEDIA = "#microsoft.graph.serviceHostedMediaConfig"
APP_HOSTED_MEDIA = "#microsoft.graph.appHostedMediaConfig"
MEDIA_CONFIG_TYPES = frozenset({SERVICE_HOSTED_MEDIA, APP_HOSTED_MEDIA})
MEDIA_PROMPT = "#microsoft.graph.mediaPrompt"
OUTGOING_CALL_OPTIONS = "#microsoft.graph.outgoingCallOptions"
INCOMING_CALL_OPTIONS = "#microsoft.graph.incomingCallOptions"
ORGANIZER_MEETING_INFO = "#microsoft.graph.organizerMeetingInfo"
TOKEN_MEETING_INFO = "#microsoft.graph.tokenMeetingInfo"
JOIN_MEETING_ID_MEETING_INFO = "#microsoft.graph.joinMeetingIdMeetingInfo"

# The property that each meetingInfo subtype cannot do without.
MEETING_INFO_REQUIRED_FIELD = {
    ORGANIZER_MEETING_INFO: "organizer",
    TOKEN_MEETING_INFO: "token",
    JOIN_MEETING_ID_MEETING_INFO: "joinMeetingId",
}

MODALITIES = frozenset(
    {"audio", "video", "videoBasedScreenSharing", "data", "unknownFutureValue"}
)
REJECT_REASONS = frozenset({"none", "busy", "forbidden", "unknownFutureValue"})
RECORDING_STATUSES = frozenset(
    {"unknown", "notRecording", "recording", "failed", "unknownFutureValue"}
)
SCREEN_SHARING_ROLES = frozenset({"viewer", "sharer"})
ROUTING_MODES = frozenset({"oneToOne", "multicast", "unknownFutureValue"})
TONES = frozenset(
    [f"tone{digit}" for digit in range(10)]
    + ["star", "pound", "a", "b", "c", "d", "flash"]
)

# Limits from the v1.0 reference pages.
MAX_CLIENT_CONTEXT = 256
MAX_PLAY_PROMPTS = 20
MAX_RECORD_PROMPTS = 1
RECORD_TIMER_RANGE = (1, 120)
MAX_CREATE_TARGETS = 5
MAX_REDIRECT_TARGETS = 25
REDIRECT_TIMEOUT_RANGE = (15, 90)
MAX_INVITE_PARTICIPANTS = 5


def result_info(code: int, subcode: int, message: str) -> JsonObject:
    return {
        "@odata.type": "#microsoft.graph.resultInfo",
        "code": code,
        "subcode": subcode,
        "message": message,
    }


PROMPT_COMPLETED = (200, 0, "Action completed successfully.")
ACTION_COMPLETED = PROMPT_COMPLETED
RECORD_COMPLETED = (200, 8515, "Action completed, max record duration reached.")
OPERATION_CANCELLED = (400, 8508, "Action failed, the operation was cancelled.")
ENDED_BY_BOT = (200, 5001, "The conversation has ended.")
ENDED_BY_REMOTE = (
    200,
    4521,
    "Call ended by the other participant in peer-to-peer call.",
)
TRANSFER_COMPLETED = (200, 7015, "GracefulTransferCompleted")
KEEP_ALIVE_EXPIRED = (
    408,
    8537,
    "The call was inactive and was ended because no keepAlive was received in time.",
)
ANSWER_TIMED_OUT = (
    408,
    1106,
    "The call was not answered, rejected or redirected in the allotted time.",
)
# The reference gives no resultInfo for a failed invitation, so the emulator uses
# the termination codes for an unanswered and an unreachable callee.
INVITE_TIMED_OUT = (408, 10057, "The invited participant did not answer in time.")
INVITE_UNREACHABLE = (480, 10076, "The invited participant could not be reached.")
CALL_REPLACED = (
    200,
    5001,
    "The conversation has ended: its participant joined the call that replaces it.",
)


class GraphError(Exception):
    """A request that the emulator rejects with a Graph error body.

    `inner_error` contains properties added to the body's innerError, such as the
    `code` and `status` strings of a 429.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        inner_error: JsonObject | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner_error = inner_error or {}


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "invalidRequest", message)


def graph_error_body(
    code: str,
    message: str,
    request_id: str,
    client_request_id: str,
    inner_error: JsonObject | None = None,
) -> JsonObject:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                **(inner_error or {}),
                "date": utc_timestamp(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def throttled_error(retry_after: str | None) -> GraphError:
    """Build the 429 of the Graph throttling documentation, with its Retry-After."""
    return GraphError(
        429,
        "TooManyRequests",
        "Please retry again later.",
        headers={"Retry-After": retry_after} if retry_after is not None else None,
        inner_error={"code": "429", "status": "429", "message": "Please retry after"},
    )


def utc_timestamp() -> str:
    """Return the current UTC time in the innerError date format, to the second."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S")


def notification_envelope(entries: list[JsonObject]) -> JsonObject:
    return {"@odata.type": "#microsoft.graph.commsNotifications", "value": entries}


def notification_entry(
    change_type: str,
    resource_url: str,
    resource_data: JsonObject | list[JsonObject],
    callback_uri: str,
) -> JsonObject:
    """Build one commsNotification with the legacy `resource` path alongside."""
    legacy_path = resource_url.replace("/communications/calls/", "/app/calls/", 1)
    return {
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": change_type,
        "resourceUrl": resource_url,
        "resource": legacy_path,
        "callbackUri": callback_uri,
        "resourceData": resource_data,
    }
