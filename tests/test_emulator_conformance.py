"""The official Microsoft Graph SDK for Python (msgraph-sdk) against the emulator.

Each call action goes through the SDK's own request builders, serializers and
middleware. A test passes when the emulator responds with the documented status and
the SDK parses the response into the documented model without error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.communications.calls.item.add_large_gallery_view.add_large_gallery_view_post_request_body import (  # noqa: E501
    AddLargeGalleryViewPostRequestBody,
)
from msgraph.generated.communications.calls.item.answer.answer_post_request_body import (  # noqa: E501
    AnswerPostRequestBody,
)
from msgraph.generated.communications.calls.item.cancel_media_processing.cancel_media_processing_post_request_body import (  # noqa: E501
    CancelMediaProcessingPostRequestBody,
)
from msgraph.generated.communications.calls.item.change_screen_sharing_role.change_screen_sharing_role_post_request_body import (  # noqa: E501
    ChangeScreenSharingRolePostRequestBody,
)
from msgraph.generated.communications.calls.item.mute.mute_post_request_body import (
    MutePostRequestBody,
)
from msgraph.generated.communications.calls.item.participants.invite.invite_post_request_body import (  # noqa: E501
    InvitePostRequestBody,
)
from msgraph.generated.communications.calls.item.participants.item.mute.mute_post_request_body import (  # noqa: E501
    MutePostRequestBody as ParticipantMutePostRequestBody,
)
from msgraph.generated.communications.calls.item.participants.item.start_hold_music.start_hold_music_post_request_body import (  # noqa: E501
    StartHoldMusicPostRequestBody,
)
from msgraph.generated.communications.calls.item.participants.item.stop_hold_music.stop_hold_music_post_request_body import (  # noqa: E501
    StopHoldMusicPostRequestBody,
)
from msgraph.generated.communications.calls.item.play_prompt.play_prompt_post_request_body import (  # noqa: E501
    PlayPromptPostRequestBody,
)
from msgraph.generated.communications.calls.item.record_response.record_response_post_request_body import (  # noqa: E501
    RecordResponsePostRequestBody,
)
from msgraph.generated.communications.calls.item.redirect.redirect_post_request_body import (  # noqa: E501
    RedirectPostRequestBody,
)
from msgraph.generated.communications.calls.item.reject.reject_post_request_body import (  # noqa: E501
    RejectPostRequestBody,
)
from msgraph.generated.communications.calls.item.send_dtmf_tones.send_dtmf_tones_post_request_body import (  # noqa: E501
    SendDtmfTonesPostRequestBody,
)
from msgraph.generated.communications.calls.item.subscribe_to_tone.subscribe_to_tone_post_request_body import (  # noqa: E501
    SubscribeToTonePostRequestBody,
)
from msgraph.generated.communications.calls.item.transfer.transfer_post_request_body import (  # noqa: E501
    TransferPostRequestBody,
)
from msgraph.generated.communications.calls.item.unmute.unmute_post_request_body import (  # noqa: E501
    UnmutePostRequestBody,
)
from msgraph.generated.communications.calls.item.update_recording_status.update_recording_status_post_request_body import (  # noqa: E501
    UpdateRecordingStatusPostRequestBody,
)
from msgraph.generated.communications.calls.log_teleconference_device_quality.log_teleconference_device_quality_post_request_body import (  # noqa: E501
    LogTeleconferenceDeviceQualityPostRequestBody,
)
from msgraph.generated.models.add_large_gallery_view_operation import (
    AddLargeGalleryViewOperation,
)
from msgraph.generated.models.audio_routing_group import AudioRoutingGroup
from msgraph.generated.models.call import Call
from msgraph.generated.models.call_direction import CallDirection
from msgraph.generated.models.call_state import CallState
from msgraph.generated.models.cancel_media_processing_operation import (
    CancelMediaProcessingOperation,
)
from msgraph.generated.models.identity import Identity
from msgraph.generated.models.identity_set import IdentitySet
from msgraph.generated.models.incoming_call_options import IncomingCallOptions
from msgraph.generated.models.invitation_participant_info import (
    InvitationParticipantInfo,
)
from msgraph.generated.models.invite_participants_operation import (
    InviteParticipantsOperation,
)
from msgraph.generated.models.media_info import MediaInfo
from msgraph.generated.models.media_prompt import MediaPrompt
from msgraph.generated.models.modality import Modality
from msgraph.generated.models.mute_participant_operation import (
    MuteParticipantOperation,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.operation_status import OperationStatus
from msgraph.generated.models.outgoing_call_options import OutgoingCallOptions
from msgraph.generated.models.participant import Participant
from msgraph.generated.models.play_prompt_operation import PlayPromptOperation
from msgraph.generated.models.record_operation import RecordOperation
from msgraph.generated.models.recording_status import RecordingStatus
from msgraph.generated.models.reject_reason import RejectReason
from msgraph.generated.models.routing_mode import RoutingMode
from msgraph.generated.models.screen_sharing_role import ScreenSharingRole
from msgraph.generated.models.send_dtmf_tones_operation import SendDtmfTonesOperation
from msgraph.generated.models.service_hosted_media_config import (
    ServiceHostedMediaConfig,
)
from msgraph.generated.models.start_hold_music_operation import (
    StartHoldMusicOperation,
)
from msgraph.generated.models.stop_hold_music_operation import StopHoldMusicOperation
from msgraph.generated.models.subscribe_to_tone_operation import (
    SubscribeToToneOperation,
)
from msgraph.generated.models.teleconference_device_quality import (
    TeleconferenceDeviceQuality,
)
from msgraph.generated.models.tone import Tone
from msgraph.generated.models.unmute_participant_operation import (
    UnmuteParticipantOperation,
)
from msgraph.generated.models.update_recording_status_operation import (
    UpdateRecordingStatusOperation,
)
from msgraph_core import GraphClientFactory

from calls_async.testing import Emulator

# msgraph-sdk 1.65 and kiota-abstractions 1.16 define deprecated classes in their
# own modules, which warn when the SDK loads its request builders.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions"),
]

CALLBACK = "https://bot.example.com/api/calls"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class Sdk:
    """A GraphServiceClient wired to an emulator."""

    def __init__(self, client: GraphServiceClient, emulator: Emulator) -> None:
        self.client = client
        self.emulator = emulator

    def call(self, call_id: str) -> Any:
        return self.client.communications.calls.by_call_id(call_id)

    def last_status(self, method: str, path_end: str) -> int:
        request = self.emulator.requests[-1]
        assert request.method == method
        assert request.path.endswith(path_end), request.path
        return request.status

    async def create_call(self, user_ids: tuple[str, ...] = ("user-1",)) -> Call:
        call = Call(
            callback_uri=CALLBACK,
            targets=[
                InvitationParticipantInfo(
                    identity=IdentitySet(user=Identity(id=user_id, display_name="U"))
                )
                for user_id in user_ids
            ],
            requested_modalities=[Modality.Audio],
            media_config=ServiceHostedMediaConfig(),
            call_options=OutgoingCallOptions(
                is_content_sharing_notification_enabled=True
            ),
        )
        created = await self.client.communications.calls.post(call)
        assert created is not None
        return created

    async def established_call_id(self, user_ids: tuple[str, ...] = ("user-1",)) -> str:
        created = await self.create_call(user_ids)
        assert created.id is not None
        async with asyncio.timeout(2):
            await self.emulator.wait_for_state(created.id, "established")
        return created.id

    async def group_call_id(self) -> str:
        return await self.established_call_id(("user-1", "user-2"))

    def participant_ids(self, call_id: str) -> list[str]:
        """Return the ids of the call's participants other than the bot."""
        call = self.emulator.call_resource(call_id)
        participants = self.emulator.participants(call_id)
        assert call is not None
        assert participants is not None
        bot_id = call["myParticipantId"]
        return [p["id"] for p in participants if p["id"] != bot_id]


@pytest.fixture
async def sdk() -> AsyncIterator[Sdk]:
    async with (
        Emulator(establish_delay=0.01, terminate_delay=0.01) as emulator,
        emulator.credential() as credential,
    ):
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"]
        )
        # GraphClientFactory wraps the client's transport in one whose aclose() does
        # not close the wrapped transport (msgraph-core 1.5.2), so the test owns the
        # transport and closes it itself.
        transport = httpx.AsyncHTTPTransport()
        http_client = httpx.AsyncClient(transport=transport)
        adapter = GraphRequestAdapter(
            auth,
            client=GraphClientFactory.create_with_default_middleware(
                client=http_client
            ),
        )
        adapter.base_url = emulator.base_url
        try:
            yield Sdk(GraphServiceClient(request_adapter=adapter), emulator)
        finally:
            await http_client.aclose()
            await transport.aclose()


def prompt() -> MediaPrompt:
    return MediaPrompt(media_info=MediaInfo(uri="https://media.example.com/menu.wav"))


def user(user_id: str) -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id=user_id)))


async def test_sdk_create_call(sdk: Sdk) -> None:
    created = await sdk.create_call()

    assert sdk.last_status("POST", "/communications/calls") == 201
    assert created.state == CallState.Establishing
    assert created.direction == CallDirection.Outgoing
    assert created.id
    assert created.my_participant_id
    assert isinstance(created.media_config, ServiceHostedMediaConfig)
    assert created.targets is not None
    assert created.targets[0].identity.user.id == "user-1"
    assert created.requested_modalities == [Modality.Audio]


async def test_sdk_get_call(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()

    fetched = await sdk.call(call_id).get()

    assert sdk.last_status("GET", call_id) == 200
    assert fetched is not None
    assert fetched.id == call_id
    assert fetched.state == CallState.Established


async def test_sdk_hang_up(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()

    await sdk.call(call_id).delete()

    assert sdk.last_status("DELETE", call_id) == 204


async def test_sdk_get_after_hang_up_raises_404(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()
    await sdk.call(call_id).delete()
    async with asyncio.timeout(2):
        await sdk.emulator.wait_for_state(call_id, None)

    with pytest.raises(ODataError) as caught:
        await sdk.call(call_id).get()

    assert caught.value.response_status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "itemNotFound"


OperationCase = tuple[str, Callable[[Any], Awaitable[Any]], int, type, OperationStatus]

OPERATION_CASES: list[OperationCase] = [
    (
        "mute",
        lambda call: call.mute.post(MutePostRequestBody(client_context="c-mute")),
        200,
        MuteParticipantOperation,
        OperationStatus.Completed,
    ),
    (
        "unmute",
        lambda call: call.unmute.post(UnmutePostRequestBody(client_context="c-unmute")),
        200,
        UnmuteParticipantOperation,
        OperationStatus.Completed,
    ),
    (
        "playPrompt",
        lambda call: call.play_prompt.post(
            PlayPromptPostRequestBody(client_context="c-play", prompts=[prompt()])
        ),
        200,
        PlayPromptOperation,
        OperationStatus.Running,
    ),
    (
        "recordResponse",
        lambda call: call.record_response.post(
            RecordResponsePostRequestBody(
                client_context="c-record",
                prompts=[prompt()],
                max_record_duration_in_seconds=10,
                stop_tones=["#"],
            )
        ),
        200,
        RecordOperation,
        OperationStatus.Running,
    ),
    (
        "cancelMediaProcessing",
        lambda call: call.cancel_media_processing.post(
            CancelMediaProcessingPostRequestBody(client_context="c-cancel")
        ),
        200,
        CancelMediaProcessingOperation,
        OperationStatus.Completed,
    ),
    (
        "subscribeToTone",
        lambda call: call.subscribe_to_tone.post(
            SubscribeToTonePostRequestBody(client_context="c-tone")
        ),
        200,
        SubscribeToToneOperation,
        OperationStatus.Completed,
    ),
    (
        "sendDtmfTones",
        lambda call: call.send_dtmf_tones.post(
            SendDtmfTonesPostRequestBody(
                client_context="c-dtmf",
                tones=[Tone.Tone1, Tone.Pound],
                delay_between_tones_ms=100,
            )
        ),
        200,
        SendDtmfTonesOperation,
        OperationStatus.Running,
    ),
    (
        "updateRecordingStatus",
        lambda call: call.update_recording_status.post(
            UpdateRecordingStatusPostRequestBody(
                client_context="c-recording", status=RecordingStatus.Recording
            )
        ),
        200,
        UpdateRecordingStatusOperation,
        OperationStatus.Completed,
    ),
    (
        "addLargeGalleryView",
        lambda call: call.add_large_gallery_view.post(
            AddLargeGalleryViewPostRequestBody(client_context="c-gallery")
        ),
        202,
        AddLargeGalleryViewOperation,
        OperationStatus.Running,
    ),
]


@pytest.mark.parametrize(
    ("action", "send", "status", "model", "operation_status"),
    OPERATION_CASES,
    ids=[case[0] for case in OPERATION_CASES],
)
async def test_sdk_operation_action(
    sdk: Sdk,
    action: str,
    send: Callable[[Any], Awaitable[Any]],
    status: int,
    model: type,
    operation_status: OperationStatus,
) -> None:
    call_id = await sdk.established_call_id()

    operation = await send(sdk.call(call_id))

    assert sdk.last_status("POST", f"/{action}") == status
    assert isinstance(operation, model)
    assert operation.status == operation_status
    assert operation.id
    assert operation.client_context is not None
    assert operation.client_context.startswith("c-")


async def test_sdk_get_operation(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()
    started = await sdk.call(call_id).play_prompt.post(
        PlayPromptPostRequestBody(client_context="c-get", prompts=[prompt()])
    )

    fetched = await sdk.call(call_id).operations.by_comms_operation_id(started.id).get()

    assert sdk.last_status("GET", f"/operations/{started.id}") == 200
    assert isinstance(fetched, PlayPromptOperation)
    assert fetched.client_context == "c-get"


async def test_sdk_keep_alive(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()

    await sdk.call(call_id).keep_alive.post()

    assert sdk.last_status("POST", "/keepAlive") == 200


async def test_sdk_change_screen_sharing_role(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()

    await sdk.call(call_id).change_screen_sharing_role.post(
        ChangeScreenSharingRolePostRequestBody(role=ScreenSharingRole.Viewer)
    )

    assert sdk.last_status("POST", "/changeScreenSharingRole") == 202


async def test_sdk_transfer(sdk: Sdk) -> None:
    call_id = await sdk.established_call_id()

    await sdk.call(call_id).transfer.post(
        TransferPostRequestBody(transfer_target=user("user-2"))
    )

    assert sdk.last_status("POST", "/transfer") == 202


async def test_sdk_answer(sdk: Sdk) -> None:
    call_id = await sdk.emulator.ring(CALLBACK)

    await sdk.call(call_id).answer.post(
        AnswerPostRequestBody(
            callback_uri=CALLBACK,
            media_config=ServiceHostedMediaConfig(),
            accepted_modalities=[Modality.Audio],
            call_options=IncomingCallOptions(
                is_content_sharing_notification_enabled=True
            ),
        )
    )

    assert sdk.last_status("POST", "/answer") == 202
    assert sdk.emulator.call_state(call_id) == "establishing"


async def test_sdk_reject(sdk: Sdk) -> None:
    call_id = await sdk.emulator.ring(CALLBACK)

    await sdk.call(call_id).reject.post(RejectPostRequestBody(reason=RejectReason.Busy))

    assert sdk.last_status("POST", "/reject") == 202
    assert sdk.emulator.call_state(call_id) is None


async def test_sdk_redirect(sdk: Sdk) -> None:
    call_id = await sdk.emulator.ring(CALLBACK)

    await sdk.call(call_id).redirect.post(
        RedirectPostRequestBody(targets=[user("user-3")], timeout=30)
    )

    assert sdk.last_status("POST", "/redirect") == 202
    assert sdk.emulator.call_state(call_id) is None


async def test_sdk_log_device_quality(sdk: Sdk) -> None:
    quality = TeleconferenceDeviceQuality(
        call_chain_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        media_leg_id=uuid.uuid4(),
        device_name="Room VTC",
        device_description="conformance test",
        media_quality_list=[],
    )

    await sdk.client.communications.calls.log_teleconference_device_quality.post(
        LogTeleconferenceDeviceQualityPostRequestBody(quality=quality)
    )

    assert sdk.last_status("POST", "/logTeleconferenceDeviceQuality") == 200


async def test_sdk_sends_what_emulator_validates(sdk: Sdk) -> None:
    await sdk.create_call()

    body = sdk.emulator.requests[-1].body

    assert body["mediaConfig"]["@odata.type"] == (
        "#microsoft.graph.serviceHostedMediaConfig"
    )
    assert body["callOptions"]["@odata.type"] == "#microsoft.graph.outgoingCallOptions"
    assert body["callbackUri"] == CALLBACK


# Participants, audio routing groups and content sharing sessions.


async def test_sdk_list_participants(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()

    page = await sdk.call(call_id).participants.get()

    assert sdk.last_status("GET", "/participants") == 200
    assert page is not None
    assert page.value is not None
    assert len(page.value) == 3
    users = [p.info.identity.user.id for p in page.value if p.info.identity.user]
    assert users == ["user-1", "user-2"]
    for participant in page.value:
        assert isinstance(participant, Participant)
        assert participant.is_in_lobby is False
        assert participant.media_streams is not None
        assert participant.media_streams[0].label == "main-audio"


async def test_sdk_get_participant(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    participant_id = sdk.participant_ids(call_id)[0]

    participant = (
        await sdk.call(call_id).participants.by_participant_id(participant_id).get()
    )

    assert sdk.last_status("GET", participant_id) == 200
    assert isinstance(participant, Participant)
    assert participant.id == participant_id
    assert participant.is_muted is False
    assert participant.roster_sequence_number == 1


async def test_sdk_invite_participants(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()

    operation = await sdk.call(call_id).participants.invite.post(
        InvitePostRequestBody(participants=[user("user-3")], client_context="c-inv")
    )

    assert sdk.last_status("POST", "/participants/invite") == 200
    assert isinstance(operation, InviteParticipantsOperation)
    assert operation.status == OperationStatus.Running
    assert operation.client_context == "c-inv"
    assert operation.participants is not None
    assert operation.participants[0].identity.user.id == "user-3"
    assert operation.participants[0].participant_id


async def test_sdk_mute_participant(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    participant_id = sdk.participant_ids(call_id)[0]

    operation = (
        await sdk.call(call_id)
        .participants.by_participant_id(participant_id)
        .mute.post(ParticipantMutePostRequestBody(client_context="c-pmute"))
    )

    assert sdk.last_status("POST", f"/{participant_id}/mute") == 200
    assert isinstance(operation, MuteParticipantOperation)
    assert operation.status == OperationStatus.Completed


async def test_sdk_start_and_stop_hold_music(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    participant_id = sdk.participant_ids(call_id)[0]
    participant = sdk.call(call_id).participants.by_participant_id(participant_id)

    started = await participant.start_hold_music.post(
        StartHoldMusicPostRequestBody(custom_prompt=prompt(), client_context="c-hold")
    )
    start_status = sdk.last_status("POST", "/startHoldMusic")
    stopped = await participant.stop_hold_music.post(
        StopHoldMusicPostRequestBody(client_context="c-unhold")
    )

    assert start_status == 202
    assert isinstance(started, StartHoldMusicOperation)
    assert started.status == OperationStatus.Running
    assert sdk.last_status("POST", "/stopHoldMusic") == 202
    assert isinstance(stopped, StopHoldMusicOperation)
    assert stopped.status == OperationStatus.Running


async def test_sdk_remove_participant(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    participant_id = sdk.participant_ids(call_id)[0]

    await sdk.call(call_id).participants.by_participant_id(participant_id).delete()

    assert sdk.last_status("DELETE", participant_id) == 204
    assert participant_id not in sdk.participant_ids(call_id)


async def test_sdk_audio_routing_group_crud(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    first, second = sdk.participant_ids(call_id)
    groups = sdk.call(call_id).audio_routing_groups

    created = await groups.post(
        AudioRoutingGroup(
            id="oneToOne",
            routing_mode=RoutingMode.OneToOne,
            sources=[first],
            receivers=[second],
        )
    )
    create_status = sdk.last_status("POST", "/audioRoutingGroups")
    listed = await groups.get()
    fetched = await groups.by_audio_routing_group_id("oneToOne").get()
    updated = await groups.by_audio_routing_group_id("oneToOne").patch(
        AudioRoutingGroup(receivers=[first], sources=[second])
    )
    update_status = sdk.last_status("PATCH", "/oneToOne")
    await groups.by_audio_routing_group_id("oneToOne").delete()

    assert create_status == 200
    assert isinstance(created, AudioRoutingGroup)
    assert created.routing_mode == RoutingMode.OneToOne
    assert created.sources == [first]
    assert listed is not None
    assert listed.value is not None
    assert [group.id for group in listed.value] == ["oneToOne"]
    assert fetched is not None
    assert fetched.receivers == [second]
    assert update_status == 200
    assert updated is not None
    assert updated.receivers == [first]
    assert sdk.last_status("DELETE", "/oneToOne") == 204


async def test_sdk_content_sharing_sessions(sdk: Sdk) -> None:
    call_id = await sdk.group_call_id()
    participant_id = sdk.participant_ids(call_id)[0]
    session_id = await sdk.emulator.start_screen_sharing(call_id, participant_id)
    sessions = sdk.call(call_id).content_sharing_sessions

    listed = await sessions.get()
    list_status = sdk.last_status("GET", "/contentSharingSessions")
    fetched = await sessions.by_content_sharing_session_id(session_id).get()

    assert list_status == 200
    assert listed is not None
    assert listed.value is not None
    assert [session.id for session in listed.value] == [session_id]
    assert sdk.last_status("GET", session_id) == 200
    assert fetched is not None
    assert fetched.id == session_id
