"""The emulator's Graph endpoints, driven over HTTP with a plain aiohttp session."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from calls_async.testing import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    Emulator,
    EmulatorSettings,
    TokenRequestError,
    serve,
)

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The callback host is not loopback, so the emulator logs these notifications as
# skipped and contacts no one.
CALLBACK = "https://bot.example.com/api/calls"
SERVICE_HOSTED = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}
APP_HOSTED = {"@odata.type": "#microsoft.graph.appHostedMediaConfig", "blob": "x"}
USER_TARGET = {"identity": {"user": {"id": "user-1", "displayName": "Test User"}}}
PROMPT = {
    "@odata.type": "#microsoft.graph.mediaPrompt",
    "mediaInfo": {"uri": "https://media.example.com/menu.wav"},
}
DELAYS = {
    "establish_delay": 0.02,
    "terminate_delay": 0.02,
    "transfer_delay": 0.02,
    "prompt_duration": 0.1,
    "record_duration": 0.1,
    "operation_delay": 0.02,
}


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "targets": [USER_TARGET],
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_HOSTED,
    }
    body.update(overrides)
    return body


def answer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callbackUri": CALLBACK,
        "mediaConfig": SERVICE_HOSTED,
        "acceptedModalities": ["audio"],
    }
    body.update(overrides)
    return body


@dataclasses.dataclass
class Reply:
    status: int
    headers: Any
    body: Any


class Graph:
    """A thin HTTP helper for the emulator's Graph API with one bearer token."""

    def __init__(
        self, session: aiohttp.ClientSession, emulator: Emulator, token: str
    ) -> None:
        self.session = session
        self.emulator = emulator
        self.token = token

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: str | None = None,
    ) -> Reply:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        url = self.emulator.base_url + path
        async with self.session.request(
            method, url, json=json, data=data, headers=all_headers
        ) as response:
            raw = await response.read()
            body = await response.json() if raw else None
            return Reply(response.status, response.headers, body)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json=json, **kwargs)

    async def get(self, path: str) -> Reply:
        return await self.request("GET", path)

    async def create_call(self, **overrides: Any) -> str:
        reply = await self.post("/communications/calls", create_body(**overrides))
        assert reply.status == 201, reply.body
        return str(reply.body["id"])

    async def established_call(self, **overrides: Any) -> str:
        call_id = await self.create_call(**overrides)
        await wait_for_state(self.emulator, call_id, "established")
        return call_id

    async def action(self, call_id: str, action: str, json: Any = None) -> Reply:
        return await self.post(f"/communications/calls/{call_id}/{action}", json)


WAIT_TIMEOUT = 2.0


async def wait_for_state(emulator: Emulator, call_id: str, state: str | None) -> None:
    """Wait until the call reaches `state`, or has ended if `state` is None."""
    async with asyncio.timeout(WAIT_TIMEOUT):
        await emulator.wait_for_state(call_id, state)


async def wait_for_operation(
    emulator: Emulator, call_id: str, operation_id: str
) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_TIMEOUT):
        return await emulator.wait_for_operation(call_id, operation_id)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(**DELAYS) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def graph(session: aiohttp.ClientSession, emulator: Emulator) -> Graph:
    return Graph(session, emulator, emulator.issue_token())


# Creating calls


async def test_create_call_returns_201_and_location(
    graph: Graph, emulator: Emulator
) -> None:
    reply = await graph.post("/communications/calls", create_body(subject="hello"))

    assert reply.status == 201
    call = reply.body
    location = f"{emulator.base_url}/communications/calls/{call['id']}"
    assert reply.headers["Location"] == location
    assert call["@odata.type"] == "#microsoft.graph.call"
    assert call["state"] == "establishing"
    assert call["direction"] == "outgoing"
    assert GUID.match(call["id"])
    assert GUID.match(call["myParticipantId"])
    assert GUID.match(call["callChainId"])
    assert call["targets"] == [USER_TARGET]
    assert call["requestedModalities"] == ["audio"]
    assert call["mediaConfig"] == SERVICE_HOSTED
    assert call["subject"] == "hello"
    assert call["callbackUri"] == CALLBACK
    assert call["tenantId"] == DEFAULT_TENANT_ID
    assert call["resultInfo"] is None


async def test_create_call_fills_source_with_app(graph: Graph) -> None:
    reply = await graph.post("/communications/calls", create_body())

    application = reply.body["source"]["identity"]["application"]
    assert application["id"] == DEFAULT_APP_ID
    assert application["displayName"] == "Emulator Bot"


async def test_create_call_joins_meeting_without_targets(graph: Graph) -> None:
    body = create_body(
        chatInfo={"threadId": "19:meeting_x@thread.v2", "messageId": "0"},
        meetingInfo={
            "@odata.type": "#microsoft.graph.organizerMeetingInfo",
            "organizer": {"user": {"id": "organizer-1"}},
        },
    )
    del body["targets"]

    reply = await graph.post("/communications/calls", body)

    assert reply.status == 201
    assert reply.body["meetingInfo"]["organizer"] == {"user": {"id": "organizer-1"}}
    assert reply.body["chatInfo"]["threadId"] == "19:meeting_x@thread.v2"


async def test_response_headers_carry_request_ids(graph: Graph) -> None:
    sent_id = str(uuid.uuid4())
    reply = await graph.post(
        "/communications/calls", create_body(), headers={"client-request-id": sent_id}
    )
    generated = await graph.post("/communications/calls", create_body())

    assert reply.headers["client-request-id"] == sent_id
    assert GUID.match(reply.headers["request-id"])
    assert "Date" in reply.headers
    assert GUID.match(generated.headers["client-request-id"])
    assert generated.headers["request-id"] != reply.headers["request-id"]


async def test_error_body_carries_request_ids(graph: Graph) -> None:
    sent_id = str(uuid.uuid4())
    reply = await graph.request(
        "GET", "/communications/calls/missing", headers={"client-request-id": sent_id}
    )

    inner = reply.body["error"]["innerError"]
    assert inner["client-request-id"] == sent_id
    assert inner["request-id"] == reply.headers["request-id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", inner["date"])


async def test_list_calls_is_not_supported(graph: Graph) -> None:
    reply = await graph.get("/communications/calls")

    assert reply.status == 405
    assert reply.body["error"]["code"] == "notSupported"
    assert reply.headers["Allow"] == "POST"


# The outgoing call state machine


async def test_outgoing_call_established_after_delay(
    graph: Graph, emulator: Emulator
) -> None:
    started = time.monotonic()
    call_id = await graph.create_call()

    assert emulator.call_state(call_id) == "establishing"
    await wait_for_state(emulator, call_id, "established")
    assert time.monotonic() - started >= DELAYS["establish_delay"]


async def test_get_call_returns_current_state(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()

    reply = await graph.get(f"/communications/calls/{call_id}")

    assert reply.status == 200
    assert reply.body["id"] == call_id
    assert reply.body["state"] == "established"
    assert reply.body["@odata.context"].endswith(
        "$metadata#communications/calls/$entity"
    )


async def test_get_call_matches_id_without_case(graph: Graph) -> None:
    call_id = await graph.create_call()

    reply = await graph.get(f"/communications/calls/{call_id.upper()}")

    assert reply.status == 200
    assert reply.body["id"] == call_id


async def test_delete_call_terminates_then_404(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()

    reply = await graph.request("DELETE", f"/communications/calls/{call_id}")

    assert reply.status == 204
    assert reply.body is None
    assert emulator.call_state(call_id) == "terminating"
    during = await graph.get(f"/communications/calls/{call_id}")
    assert during.body["state"] == "terminating"
    await wait_for_state(emulator, call_id, None)
    for method, path, body in [
        ("GET", f"/communications/calls/{call_id}", None),
        ("DELETE", f"/communications/calls/{call_id}", None),
        ("POST", f"/communications/calls/{call_id}/keepAlive", None),
        ("POST", f"/communications/calls/{call_id}/playPrompt", {"prompts": [PROMPT]}),
    ]:
        after = await graph.request(method, path, json=body)
        assert after.status == 404, (method, path)
        assert after.body["error"]["code"] == "itemNotFound"


async def test_delete_twice_while_terminating(graph: Graph) -> None:
    call_id = await graph.established_call()

    first = await graph.request("DELETE", f"/communications/calls/{call_id}")
    second = await graph.request("DELETE", f"/communications/calls/{call_id}")

    assert first.status == 204
    assert second.status == 204


async def test_unknown_call_is_404(graph: Graph) -> None:
    for method, path in [
        ("GET", "/communications/calls/no-such-call"),
        ("DELETE", "/communications/calls/no-such-call"),
        ("POST", "/communications/calls/no-such-call/mute"),
        ("GET", "/communications/calls/no-such-call/operations/no-such-op"),
    ]:
        reply = await graph.request(method, path)
        assert reply.status == 404, (method, path)
        assert reply.body["error"]["code"] == "itemNotFound"
        assert "no-such-call" in reply.body["error"]["message"]


async def test_keep_alive_timeout_ends_call(session: aiohttp.ClientSession) -> None:
    async with Emulator(keep_alive_timeout=0.3, **DELAYS) as emu:
        graph = Graph(session, emu, emu.issue_token())
        kept = await graph.established_call()
        idle = await graph.established_call()

        for _ in range(5):
            await asyncio.sleep(0.05)
            reply = await graph.action(kept, "keepAlive")
            assert reply.status == 200
        await wait_for_state(emu, idle, None)

        assert emu.call_state(kept) == "established"
        assert (await graph.action(idle, "keepAlive")).status == 404


# Call actions: status codes and bodies


OPERATION_ACTIONS = [
    # action, body, status, operation type, status in the response
    ("mute", {"clientContext": "c-mute"}, 200, "muteParticipantOperation", "completed"),
    (
        "unmute",
        {"clientContext": "c-unmute"},
        200,
        "unmuteParticipantOperation",
        "completed",
    ),
    (
        "playPrompt",
        {"clientContext": "c-play", "prompts": [PROMPT]},
        200,
        "playPromptOperation",
        "running",
    ),
    (
        "recordResponse",
        {"clientContext": "c-rec", "maxRecordDurationInSeconds": 10},
        200,
        "recordOperation",
        "running",
    ),
    (
        "cancelMediaProcessing",
        {"clientContext": "c-cancel"},
        200,
        "cancelMediaProcessingOperation",
        "completed",
    ),
    (
        "subscribeToTone",
        {"clientContext": "c-tone"},
        200,
        "subscribeToToneOperation",
        "completed",
    ),
    (
        "sendDtmfTones",
        {"clientContext": "c-dtmf", "tones": ["tone1", "pound"]},
        200,
        "sendDtmfTonesOperation",
        "running",
    ),
    (
        "updateRecordingStatus",
        {"clientContext": "c-rs", "status": "recording"},
        200,
        "updateRecordingStatusOperation",
        "completed",
    ),
    (
        "addLargeGalleryView",
        {"clientContext": "c-gallery"},
        202,
        "addLargeGalleryViewOperation",
        "running",
    ),
]


@pytest.mark.parametrize(
    ("action", "body", "status", "odata_type", "operation_status"), OPERATION_ACTIONS
)
async def test_operation_action_response(
    graph: Graph,
    emulator: Emulator,
    action: str,
    body: dict[str, Any],
    status: int,
    odata_type: str,
    operation_status: str,
) -> None:
    call_id = await graph.established_call()

    reply = await graph.action(call_id, action, body)

    assert reply.status == status
    operation = reply.body
    assert operation["@odata.type"] == f"#microsoft.graph.{odata_type}"
    assert operation["status"] == operation_status
    assert operation["clientContext"] == body["clientContext"]
    assert operation["resultInfo"] is None
    operations_url = f"{emulator.base_url}/communications/calls/{call_id}/operations"
    assert reply.headers["Location"] == f"{operations_url}/{operation['id']}"


async def test_record_operation_has_recording_fields(graph: Graph) -> None:
    call_id = await graph.established_call()

    reply = await graph.action(call_id, "recordResponse", {})

    assert reply.body["recordingLocation"] is None
    assert reply.body["recordingAccessToken"] is None


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        ("keepAlive", None, 200),
        ("changeScreenSharingRole", {"role": "sharer"}, 202),
        ("transfer", {"transferTarget": USER_TARGET}, 202),
    ],
)
async def test_action_without_body_response(
    graph: Graph, action: str, body: dict[str, Any] | None, status: int
) -> None:
    call_id = await graph.established_call()

    reply = await graph.action(call_id, action, body)

    assert reply.status == status
    assert reply.body is None
    assert "Location" not in reply.headers


async def test_operation_without_client_context(graph: Graph) -> None:
    call_id = await graph.established_call()

    reply = await graph.action(call_id, "mute")

    assert reply.status == 200
    assert reply.body["clientContext"] is None


@pytest.mark.parametrize(
    "action",
    ["microsoft.graph.playPrompt", "microsoft.graph.keepAlive", "PLAYPROMPT"],
)
async def test_qualified_and_any_case_action_names(graph: Graph, action: str) -> None:
    call_id = await graph.established_call()
    body = {"prompts": [PROMPT]} if "prompt" in action.lower() else None

    reply = await graph.action(call_id, action, body)

    assert reply.status == 200


async def test_log_device_quality_both_spellings(graph: Graph) -> None:
    quality = {"quality": {"callChainId": str(uuid.uuid4()), "deviceName": "VTC"}}

    short = await graph.post(
        "/communications/calls/logTeleconferenceDeviceQuality", quality
    )
    qualified = await graph.post(
        "/communications/calls/microsoft.graph.logTeleconferenceDeviceQuality", quality
    )

    assert short.status == 200
    assert short.body is None
    assert qualified.status == 200


async def test_post_on_call_item_is_405(graph: Graph) -> None:
    call_id = await graph.create_call()

    reply = await graph.post(f"/communications/calls/{call_id}", {})

    assert reply.status == 405
    assert reply.body["error"]["code"] == "notSupported"


async def test_unknown_action_is_400(graph: Graph) -> None:
    call_id = await graph.create_call()

    reply = await graph.action(call_id, "dance", {})

    assert reply.status == 400
    assert "dance" in reply.body["error"]["message"]


async def test_post_on_participants_collection_is_405(graph: Graph) -> None:
    call_id = await graph.create_call()

    reply = await graph.post(f"/communications/calls/{call_id}/participants", {})

    assert reply.status == 405
    assert reply.body["error"]["code"] == "notSupported"
    assert reply.headers["Allow"] == "GET"


# Incoming calls


async def test_answer_incoming_call(graph: Graph, emulator: Emulator) -> None:
    call_id = await emulator.ring(CALLBACK)
    assert emulator.call_state(call_id) == "incoming"

    reply = await graph.action(call_id, "answer", answer_body())

    assert reply.status == 202
    assert reply.body is None
    assert emulator.call_state(call_id) == "establishing"
    await wait_for_state(emulator, call_id, "established")
    resource = (await graph.get(f"/communications/calls/{call_id}")).body
    assert resource["direction"] == "incoming"
    assert resource["requestedModalities"] == ["audio"]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("reject", {"reason": "busy"}),
        ("reject", {"reason": "Busy"}),
        ("reject", None),
        ("redirect", {"targets": [USER_TARGET], "timeout": 30}),
    ],
)
async def test_reject_or_redirect_ends_call(
    graph: Graph, emulator: Emulator, action: str, body: dict[str, Any] | None
) -> None:
    call_id = await emulator.ring(CALLBACK)

    reply = await graph.action(call_id, action, body)

    assert reply.status == 202
    assert reply.body is None
    assert emulator.call_state(call_id) is None
    assert (await graph.get(f"/communications/calls/{call_id}")).status == 404


async def test_unanswered_call_times_out(graph: Graph, emulator: Emulator) -> None:
    started = time.monotonic()
    call_id = await emulator.ring(CALLBACK, answer_timeout=0.05)

    await wait_for_state(emulator, call_id, None)

    assert time.monotonic() - started >= 0.045
    reply = await graph.action(call_id, "answer", answer_body())
    assert reply.status == 404


async def test_transfer_ends_call(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()

    reply = await graph.action(call_id, "transfer", {"transferTarget": USER_TARGET})

    assert reply.status == 202
    assert emulator.call_state(call_id) == "transferring"
    await wait_for_state(emulator, call_id, "transferAccepted")
    await wait_for_state(emulator, call_id, None)


# Actions in the wrong state


async def test_wrong_state_is_409(graph: Graph, emulator: Emulator) -> None:
    outgoing = await graph.established_call()
    establishing = await graph.create_call()
    incoming = await emulator.ring(CALLBACK)

    cases = [
        (outgoing, "answer", answer_body()),
        (outgoing, "reject", {"reason": "busy"}),
        (outgoing, "redirect", {"targets": [USER_TARGET]}),
        (incoming, "playPrompt", {"prompts": [PROMPT]}),
        (incoming, "mute", {}),
        (incoming, "transfer", {"transferTarget": USER_TARGET}),
        (establishing, "transfer", {"transferTarget": USER_TARGET}),
    ]
    for call_id, action, body in cases:
        reply = await graph.action(call_id, action, body)
        assert reply.status == 409, action
        assert reply.body["error"]["code"] == "notAllowed"
        assert action in reply.body["error"]["message"]


async def test_media_action_on_app_hosted_call_is_400(graph: Graph) -> None:
    call_id = await graph.established_call(mediaConfig=APP_HOSTED)

    for action, body in [
        ("playPrompt", {"prompts": [PROMPT]}),
        ("recordResponse", {}),
        ("subscribeToTone", {}),
    ]:
        reply = await graph.action(call_id, action, body)
        assert reply.status == 400, action
        assert "serviceHostedMediaConfig" in reply.body["error"]["message"]


# Media operations


async def test_media_operations_run_in_order(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()
    started = time.monotonic()
    ids = []
    for action, body in [
        ("playPrompt", {"prompts": [PROMPT]}),
        ("recordResponse", {}),
        ("playPrompt", {"prompts": [PROMPT, PROMPT]}),
    ]:
        ids.append((await graph.action(call_id, action, body)).body["id"])

    finished_at = []
    for operation_id in ids:
        operation = await wait_for_operation(emulator, call_id, operation_id)
        finished_at.append(time.monotonic() - started)
        assert operation["status"] == "completed"

    # One prompt, one recording, then two prompts, each taking 0.1 s.
    assert finished_at[0] >= 0.09
    assert finished_at[1] >= 0.19
    assert finished_at[2] >= 0.39
    await emulator.drain_notifications()
    completion_order = [
        delivery.resource_url.rsplit("/", 1)[1]
        for delivery in emulator.notifications
        if "/operations/" in delivery.resource_url
    ]
    assert completion_order == ids


async def test_prompt_completion_result(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()
    started = await graph.action(
        call_id, "playPrompt", {"clientContext": "ctx-1", "prompts": [PROMPT]}
    )

    operation = await wait_for_operation(emulator, call_id, started.body["id"])

    assert operation["status"] == "completed"
    assert operation["clientContext"] == "ctx-1"
    assert operation["resultInfo"]["code"] == 200
    assert operation["resultInfo"]["subcode"] == 0
    assert operation["resultInfo"]["message"] == "Action completed successfully."


async def test_media_queued_while_establishing(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.create_call()

    reply = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})

    assert reply.status == 200
    operation = await wait_for_operation(emulator, call_id, reply.body["id"])
    assert operation["status"] == "completed"


async def test_cancel_media_fails_running_and_queued(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()
    ids = [
        (await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})).body["id"],
        (await graph.action(call_id, "recordResponse", {})).body["id"],
        (await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})).body["id"],
    ]

    cancel = await graph.action(
        call_id, "cancelMediaProcessing", {"clientContext": "x"}
    )

    assert cancel.status == 200
    assert cancel.body["status"] == "completed"
    for operation_id in ids:
        operation = emulator.operation_resource(call_id, operation_id)
        assert operation is not None
        assert operation["status"] == "failed"
        assert operation["resultInfo"]["code"] == 400
        assert operation["resultInfo"]["subcode"] == 8508
        assert operation["resultInfo"]["message"] == (
            "Action failed, the operation was cancelled."
        )
    record = emulator.operation_resource(call_id, ids[1])
    assert record is not None
    assert record["recordingLocation"] == ""
    assert record["recordingAccessToken"] == ""
    await emulator.drain_notifications()
    failed = [
        delivery.resource_url.rsplit("/", 1)[1]
        for delivery in emulator.notifications
        if "/operations/" in delivery.resource_url
    ]
    assert failed == ids


async def test_cancel_media_leaves_later_prompts(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()
    await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})
    await graph.action(call_id, "cancelMediaProcessing", {})

    later = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})

    operation = await wait_for_operation(emulator, call_id, later.body["id"])
    assert operation["status"] == "completed"


async def test_barge_in_record_interrupts_prompt(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()
    prompt = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})
    queued = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})

    record = await graph.action(call_id, "recordResponse", {"bargeInAllowed": True})

    interrupted = emulator.operation_resource(call_id, prompt.body["id"])
    assert interrupted is not None
    assert interrupted["status"] == "failed"
    recorded = await wait_for_operation(emulator, call_id, record.body["id"])
    assert recorded["status"] == "completed"
    still_queued = emulator.operation_resource(call_id, queued.body["id"])
    assert still_queued is not None
    assert still_queued["status"] == "running"


async def test_record_completes_with_downloadable_recording(
    graph: Graph, emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    call_id = await graph.established_call()
    started = await graph.action(call_id, "recordResponse", {"clientContext": "rec"})

    record = await wait_for_operation(emulator, call_id, started.body["id"])

    assert record["status"] == "completed"
    assert record["resultInfo"]["code"] == 200
    assert record["resultInfo"]["subcode"] == 8515
    location = record["recordingLocation"]
    assert location.startswith(f"{emulator.url}/recordings/")
    token = record["recordingAccessToken"]
    assert token
    auth = {"Authorization": f"Bearer {token}"}
    async with session.get(location, headers=auth) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        content = await response.read()
    assert content[:4] == b"RIFF"
    assert content[8:12] == b"WAVE"


async def test_recording_refuses_graph_token(
    graph: Graph, emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    call_id = await graph.established_call()
    started = await graph.action(call_id, "recordResponse", {})
    record = await wait_for_operation(emulator, call_id, started.body["id"])
    location = record["recordingLocation"]

    graph_auth = {"Authorization": f"Bearer {graph.token}"}
    async with session.get(location, headers=graph_auth) as with_graph_token:
        assert with_graph_token.status == 401
        body = await with_graph_token.json()
    async with session.get(location) as without_token:
        assert without_token.status == 401
    async with session.get(f"{emulator.url}/recordings/unknown") as unknown:
        assert unknown.status == 404
    assert "Graph access token" in body["error"]["message"]


async def test_dtmf_and_gallery_complete_later(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()
    dtmf = await graph.action(call_id, "sendDtmfTones", {"tones": ["tone5"]})
    gallery = await graph.action(call_id, "addLargeGalleryView", {})

    sent = await wait_for_operation(emulator, call_id, dtmf.body["id"])
    added = await wait_for_operation(emulator, call_id, gallery.body["id"])

    assert sent["status"] == "completed"
    assert sent["completionReason"] == "completedSuccessfully"
    assert added["status"] == "completed"


async def test_get_operation_and_list(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()
    mute = await graph.action(call_id, "mute", {"clientContext": "m"})
    play = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})
    operations_path = f"/communications/calls/{call_id}/operations"

    one = await graph.get(f"{operations_path}/{mute.body['id']}")
    listed = await graph.get(operations_path)

    assert one.status == 200
    assert one.body["@odata.type"] == "#microsoft.graph.muteParticipantOperation"
    assert one.body["clientContext"] == "m"
    assert listed.status == 200
    assert [op["id"] for op in listed.body["value"]] == [
        mute.body["id"],
        play.body["id"],
    ]
    missing = await graph.get(f"{operations_path}/nope")
    assert missing.status == 404


# Authentication


async def test_missing_token_is_401(graph: Graph) -> None:
    graph.token = ""

    reply = await graph.post("/communications/calls", create_body())

    assert reply.status == 401
    assert reply.body["error"]["code"] == "InvalidAuthenticationToken"
    assert "empty" in reply.body["error"]["message"]


async def test_unknown_token_is_401(graph: Graph, emulator: Emulator) -> None:
    graph.token = "not-a-token-this-emulator-issued"

    reply = await graph.get("/communications/calls/any")

    assert reply.status == 401
    assert reply.body["error"]["code"] == "InvalidAuthenticationToken"
    assert emulator.stats.auth_failures == 1


async def test_token_of_other_emulator_is_401(
    graph: Graph, session: aiohttp.ClientSession
) -> None:
    async with Emulator() as other:
        graph.token = other.issue_token()

    reply = await graph.post("/communications/calls", create_body())

    assert reply.status == 401


async def test_expired_token_is_401(graph: Graph, emulator: Emulator) -> None:
    graph.token = emulator.issue_token(lifetime=0.05)
    fresh = await graph.post("/communications/calls", create_body())
    await asyncio.sleep(0.1)

    reply = await graph.post("/communications/calls", create_body())

    assert fresh.status == 201
    assert reply.status == 401
    assert reply.body["error"]["code"] == "InvalidAuthenticationToken"
    assert "expired" in reply.body["error"]["message"]


async def test_auth_not_required_when_disabled(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(require_auth=False) as emu:
        graph = Graph(session, emu, "")
        reply = await graph.post("/communications/calls", create_body())

    assert reply.status == 201


# Validation


INVALID_BODIES = [
    # target, action, body, text expected in the error message
    ("create", "", {**create_body(), "callbackUri": None}, "'callbackUri'"),
    (
        "create",
        "",
        create_body(callbackUri="http://bot.example.com/cb"),
        "'callbackUri'",
    ),
    ("create", "", create_body(callbackUri="not a url"), "'callbackUri'"),
    ("create", "", create_body(mediaConfig=None), "'mediaConfig'"),
    ("create", "", create_body(mediaConfig={"blob": "x"}), "'mediaConfig.@odata.type'"),
    (
        "create",
        "",
        create_body(mediaConfig={"@odata.type": "#microsoft.graph.other"}),
        "'mediaConfig.@odata.type'",
    ),
    ("create", "", create_body(targets=None), "'targets'"),
    ("create", "", create_body(targets=[]), "'targets'"),
    ("create", "", create_body(targets=[USER_TARGET] * 6), "'targets'"),
    (
        "create",
        "",
        create_body(targets=[{"displayName": "x"}]),
        "'targets[0].identity'",
    ),
    (
        "create",
        "",
        create_body(requestedModalities=["smell"]),
        "'requestedModalities[0]'",
    ),
    (
        "create",
        "",
        create_body(callOptions={"hideBotAfterEscalation": True}),
        "'callOptions.@odata.type'",
    ),
    (
        "create",
        "",
        create_body(meetingInfo={"organizer": {}}),
        "'meetingInfo.@odata.type'",
    ),
    (
        "create",
        "",
        create_body(
            targets=None,
            meetingInfo={
                "@odata.type": "#microsoft.graph.organizerMeetingInfo",
                "organizer": {"user": {"id": "o"}},
            },
        ),
        "'chatInfo'",
    ),
    (
        "create",
        "",
        create_body(
            targets=None,
            meetingInfo={"@odata.type": "#microsoft.graph.tokenMeetingInfo"},
        ),
        "'meetingInfo.token'",
    ),
    (
        "create",
        "",
        create_body(
            mediaConfig={
                **SERVICE_HOSTED,
                "preFetchMedia": [{"uri": "http://media.example.com/a.wav"}],
            }
        ),
        "'mediaConfig.preFetchMedia[0].uri'",
    ),
    ("create", "", [create_body()], "JSON object"),
    ("incoming", "answer", {**answer_body(), "callbackUri": None}, "'callbackUri'"),
    ("incoming", "answer", {**answer_body(), "mediaConfig": None}, "'mediaConfig'"),
    (
        "incoming",
        "answer",
        {**answer_body(), "acceptedModalities": None},
        "'acceptedModalities'",
    ),
    (
        "incoming",
        "answer",
        answer_body(acceptedModalities=["Audio"]),
        "'acceptedModalities[0]'",
    ),
    (
        "incoming",
        "answer",
        answer_body(
            callOptions={"@odata.type": "#microsoft.graph.outgoingCallOptions"}
        ),
        "'callOptions.@odata.type'",
    ),
    ("incoming", "reject", {"reason": "tired"}, "'reason'"),
    ("incoming", "reject", {"callbackUri": "ftp://bot.example.com"}, "'callbackUri'"),
    ("incoming", "redirect", {}, "'targets'"),
    ("incoming", "redirect", {"targets": [USER_TARGET] * 26}, "'targets'"),
    ("incoming", "redirect", {"targets": [USER_TARGET], "timeout": 14}, "'timeout'"),
    ("incoming", "redirect", {"targets": [USER_TARGET], "timeout": 91}, "'timeout'"),
    ("established", "transfer", {}, "'transferTarget'"),
    (
        "established",
        "transfer",
        {"transferTarget": {"endpointType": "default"}},
        "'transferTarget.identity'",
    ),
    ("established", "mute", {"clientContext": "x" * 257}, "'clientContext'"),
    ("established", "mute", {"clientContext": 5}, "'clientContext'"),
    ("established", "playPrompt", {}, "'prompts'"),
    ("established", "playPrompt", {"prompts": []}, "'prompts'"),
    ("established", "playPrompt", {"prompts": [PROMPT] * 21}, "'prompts'"),
    (
        "established",
        "playPrompt",
        {"prompts": [{"mediaInfo": {"uri": "https://m.example.com/a.wav"}}]},
        "'prompts[0].@odata.type'",
    ),
    (
        "established",
        "playPrompt",
        {"prompts": [{**PROMPT, "mediaInfo": {"uri": ""}}]},
        "'prompts[0].mediaInfo.uri'",
    ),
    (
        "established",
        "playPrompt",
        {"prompts": [{**PROMPT, "mediaInfo": {"uri": "http://m.example.com/a.wav"}}]},
        "'prompts[0].mediaInfo.uri'",
    ),
    (
        "established",
        "playPrompt",
        {"prompts": [{**PROMPT, "mediaInfo": None}]},
        "'prompts[0].mediaInfo'",
    ),
    ("established", "recordResponse", {"prompts": [PROMPT, PROMPT]}, "'prompts'"),
    (
        "established",
        "recordResponse",
        {"maxRecordDurationInSeconds": 0},
        "'maxRecordDurationInSeconds'",
    ),
    (
        "established",
        "recordResponse",
        {"initialSilenceTimeoutInSeconds": 121},
        "'initialSilenceTimeoutInSeconds'",
    ),
    (
        "established",
        "recordResponse",
        {"maxSilenceTimeoutInSeconds": "5"},
        "'maxSilenceTimeoutInSeconds'",
    ),
    ("established", "recordResponse", {"bargeInAllowed": "yes"}, "'bargeInAllowed'"),
    ("established", "sendDtmfTones", {}, "'tones'"),
    ("established", "sendDtmfTones", {"tones": ["tone1", "hash"]}, "'tones[1]'"),
    ("established", "sendDtmfTones", {"tones": []}, "'tones'"),
    ("established", "updateRecordingStatus", {}, "'status'"),
    ("established", "updateRecordingStatus", {"status": "paused"}, "'status'"),
    ("established", "changeScreenSharingRole", {}, "'role'"),
    ("established", "changeScreenSharingRole", {"role": "presenter"}, "'role'"),
    ("collection", "logTeleconferenceDeviceQuality", {}, "'quality'"),
]


@pytest.mark.parametrize(("target", "action", "body", "expected"), INVALID_BODIES)
async def test_invalid_body_is_400(
    graph: Graph,
    emulator: Emulator,
    target: str,
    action: str,
    body: Any,
    expected: str,
) -> None:
    if target == "create":
        path = "/communications/calls"
    elif target == "collection":
        path = f"/communications/calls/{action}"
    else:
        if target == "incoming":
            call_id = await emulator.ring(CALLBACK)
        else:
            call_id = await graph.established_call()
        path = f"/communications/calls/{call_id}/{action}"

    reply = await graph.post(path, body)

    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalidRequest"
    assert expected in reply.body["error"]["message"]


async def test_loopback_http_callback_accepted(graph: Graph) -> None:
    for callback in [
        "http://127.0.0.1:9/cb",
        "http://localhost/cb",
        "http://[::1]:8080/cb",
    ]:
        reply = await graph.post(
            "/communications/calls", create_body(callbackUri=callback)
        )
        assert reply.status == 201, callback


async def test_malformed_json_is_400(graph: Graph) -> None:
    reply = await graph.post(
        "/communications/calls",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )

    assert reply.status == 400
    assert "not valid JSON" in reply.body["error"]["message"]


async def test_body_without_json_content_type_is_415(graph: Graph) -> None:
    reply = await graph.post(
        "/communications/calls",
        data='{"callbackUri": "x"}',
        headers={"Content-Type": "text/plain"},
    )

    assert reply.status == 415
    assert "application/json" in reply.body["error"]["message"]


# Request log and counters


async def test_request_log_records_wire_requests(
    graph: Graph, emulator: Emulator
) -> None:
    body = create_body()
    await graph.post("/communications/calls", body, headers={"client-request-id": "r1"})

    recorded = emulator.requests[-1]

    assert recorded.method == "POST"
    assert recorded.path == "/v1.0/communications/calls"
    assert recorded.body == body
    assert recorded.status == 201
    assert recorded.headers["client-request-id"] == "r1"
    assert recorded.headers["Authorization"] == "[redacted]"
    assert graph.token not in repr(recorded)


async def test_request_log_redacts_any_header_case(
    graph: Graph, emulator: Emulator
) -> None:
    # aiohttp's client would normalize the header name, so the request is written
    # by hand.
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(
        "GET /v1.0/communications/calls/x HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"authorization: Bearer {graph.token}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    await reader.read()
    writer.close()
    await writer.wait_closed()

    recorded = emulator.requests[-1]

    authorization = [
        value
        for name, value in recorded.headers.items()
        if name.lower() == "authorization"
    ]
    assert recorded.status == 404
    assert authorization == ["[redacted]"]
    assert graph.token not in repr(recorded)


async def test_request_log_is_bounded(session: aiohttp.ClientSession) -> None:
    async with Emulator(request_log_size=3) as emu:
        graph = Graph(session, emu, emu.issue_token())
        for _ in range(5):
            await graph.get("/communications/calls/x")

        assert len(emu.requests) == 3


async def test_stats_count_requests_and_calls(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()
    await graph.action(call_id, "mute", {})
    await graph.get("/communications/calls/missing")

    stats = emulator.stats

    assert stats.requests == 3
    assert stats.calls_created == 1
    assert stats.operations_started == 1
    assert stats.responses_by_status[201] == 1
    assert stats.responses_by_status[200] == 1
    assert stats.responses_by_status[404] == 1


# Token endpoint and credential


def token_form(**overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_APP_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
    }
    form.update(overrides)
    return form


async def post_token_form(
    session: aiohttp.ClientSession, url: str, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, data=form) as response:
        return response.status, await response.json()


async def test_token_endpoint_issues_usable_token(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    status, body = await post_token_form(session, emulator.token_url, token_form())

    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    graph = Graph(session, emulator, body["access_token"])
    assert (await graph.post("/communications/calls", create_body())).status == 201
    assert emulator.stats.tokens_issued == 1


async def test_token_endpoint_accepts_basic_auth(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    form = token_form()
    del form["client_id"], form["client_secret"]
    credentials = f"{DEFAULT_APP_ID}:{DEFAULT_CLIENT_SECRET}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}

    async with session.post(emulator.token_url, data=form, headers=auth) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error", "aadsts"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (
            {"client_id": "00000000-0000-0000-0000-000000000000"},
            401,
            "invalid_client",
            700016,
        ),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        (
            {"scope": "https://management.azure.com/.default"},
            400,
            "invalid_scope",
            1002012,
        ),
    ],
)
async def test_token_endpoint_rejects(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    overrides: dict[str, str],
    status: int,
    error: str,
    aadsts: int,
) -> None:
    got_status, body = await post_token_form(
        session, emulator.token_url, token_form(**overrides)
    )

    assert got_status == status
    assert body["error"] == error
    assert body["error_codes"] == [aadsts]
    assert body["error_description"].startswith(f"AADSTS{aadsts}:")
    assert "access_token" not in body


async def test_token_endpoint_rejects_other_tenant(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    url = emulator.token_url.replace(DEFAULT_TENANT_ID, "other-tenant")

    status, body = await post_token_form(session, url, token_form())

    assert status == 400
    assert body["error"] == "invalid_request"


async def test_tenant_openid_configuration(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    url = f"{emulator.url}/{DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration"
    async with session.get(url) as response:
        config = await response.json()
    async with session.get(config["jwks_uri"]) as response:
        jwks = await response.json()

    assert config["token_endpoint"] == emulator.token_url
    assert [key["kid"] for key in jwks["keys"]] == [emulator.signing_key_id]


async def test_credential_gets_working_tokens(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    async with emulator.credential() as credential:
        first = await credential.get_token("https://graph.microsoft.com/.default")
        second = await credential.get_token(
            "https://graph.microsoft.com/.default", enable_cae=True
        )

    assert credential.token_requests == 2
    assert emulator.stats.tokens_issued == 2
    assert first.token != second.token
    assert abs(first.expires_on - (time.time() + 3600)) < 5
    graph = Graph(session, emulator, second.token)
    assert (await graph.post("/communications/calls", create_body())).status == 201


async def test_credential_wrong_secret_raises(emulator: Emulator) -> None:
    credential = emulator.credential()
    credential._client_secret = "wrong"

    with pytest.raises(TokenRequestError) as caught:
        await credential.get_token("https://graph.microsoft.com/.default")
    await credential.close()

    assert caught.value.status == 401
    assert caught.value.error == "invalid_client"
    assert "wrong" not in str(caught.value)


async def test_credential_requires_scope(emulator: Emulator) -> None:
    async with emulator.credential() as credential:
        with pytest.raises(ValueError, match="scope"):
            await credential.get_token()

    assert credential.token_requests == 0


async def test_credential_repr_hides_secret(emulator: Emulator) -> None:
    credential = emulator.credential()

    assert DEFAULT_CLIENT_SECRET not in repr(credential)


async def test_credential_close_twice(emulator: Emulator) -> None:
    credential = emulator.credential()
    await credential.get_token("https://graph.microsoft.com/.default")

    await credential.close()
    await credential.close()


# Lifecycle and settings


async def test_emulator_urls_and_identity(emulator: Emulator) -> None:
    assert re.match(r"^http://127\.0\.0\.1:\d+$", emulator.url)
    assert emulator.base_url == emulator.url + "/v1.0"
    assert emulator.token_url == f"{emulator.url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
    assert emulator.port > 0
    assert emulator.app_id == DEFAULT_APP_ID
    assert emulator.tenant_id == DEFAULT_TENANT_ID
    assert emulator.client_secret == DEFAULT_CLIENT_SECRET


async def test_url_before_start_raises() -> None:
    emu = Emulator()

    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.url
    await emu.close()


async def test_start_and_close_without_context_manager() -> None:
    emu = Emulator()
    await emu.start()
    url = emu.url

    await emu.close()

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/_emulator/stats")


def test_settings_reject_negative_delay() -> None:
    with pytest.raises(ValueError, match="establish_delay"):
        EmulatorSettings(establish_delay=-1)


def test_unknown_setting_raises() -> None:
    with pytest.raises(TypeError):
        Emulator(establish_dealy=0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    port = free_port()
    task = asyncio.create_task(serve("127.0.0.1", port, tenant_id="t-serve"))

    async with asyncio.timeout(5):
        while True:
            with contextlib.suppress(aiohttp.ClientConnectionError):
                url = f"http://127.0.0.1:{port}/t-serve/oauth2/v2.0/token"
                status, _ = await post_token_form(session, url, token_form())
                break
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert status == 200
