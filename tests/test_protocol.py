"""Golden tests of every request builder, and tests of the response readers.

Each expected body is a literal written from the Graph calls v1.0 reference and its
examples, field by field, so a change in the wire output shows up as a diff here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from calls_async import _protocol as protocol
from calls_async._errors import ResponseParseError
from calls_async._protocol import GraphErrorDetails, Request, ResponseKind
from calls_async.models import (
    AppHostedMediaConfig,
    AudioRoutingGroup,
    CallDirection,
    CallState,
    ChatInfo,
    Identity,
    IdentitySet,
    IncomingCallOptions,
    InvitationParticipantInfo,
    InviteParticipantsOperation,
    JoinMeetingIdMeetingInfo,
    MediaInfo,
    MediaPrompt,
    Modality,
    OperationStatus,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    ParticipantInfo,
    PlayPromptOperation,
    RecordingStatus,
    RejectReason,
    RoutingMode,
    ScreenSharingRole,
    ServiceHostedMediaConfig,
    TeleconferenceDeviceAudioQuality,
    TeleconferenceDeviceQuality,
    TeleconferenceDeviceVideoQuality,
    TokenMeetingInfo,
    Tone,
)

CALL_ID = "a1b2c3d4-0000-4000-8000-00000000c002"
CALL_PATH = f"/communications/calls/{CALL_ID}"
PARTICIPANT_ID = "a1b2c3d4-0000-4000-8000-00000000p0u1"
PARTICIPANT_PATH = f"{CALL_PATH}/participants/{PARTICIPANT_ID}"
CALLBACK = "https://bot.example.com/api/calls"
TENANT = "a1b2c3d4-0000-4000-8000-00000000te01"

SERVICE_MEDIA_WIRE = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}


def user(user_id: str, name: str, tenant_id: str | None = None) -> IdentitySet:
    identity = Identity(id=user_id, display_name=name, tenant_id=tenant_id)
    return IdentitySet(user=identity)


def user_wire(user_id: str, name: str, tenant_id: str | None = None) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.identity",
        "id": user_id,
        "displayName": name,
    }
    if tenant_id is not None:
        identity["tenantId"] = tenant_id
    return {"@odata.type": "#microsoft.graph.identitySet", "user": identity}


def phone_wire(number: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.identitySet",
        "phone": {"@odata.type": "#microsoft.graph.identity", "id": number},
    }


def invitation_wire(identity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.invitationParticipantInfo",
        "identity": identity,
        **fields,
    }


def media_prompt_wire(uri: str, resource_id: str | None = None) -> dict[str, Any]:
    media_info = {"@odata.type": "#microsoft.graph.mediaInfo", "uri": uri}
    if resource_id is not None:
        media_info["resourceId"] = resource_id
    return {"@odata.type": "#microsoft.graph.mediaPrompt", "mediaInfo": media_info}


def assert_request(
    request: Request,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    call_id: str | None,
    response: ResponseKind,
) -> None:
    assert request.method == method
    assert request.path == path
    assert request.body == body
    assert request.call_id == call_id
    assert request.response is response
    if body is not None:
        # The body must be plain JSON: lists, not tuples, and str, not enum members.
        assert_plain_json(request.body)


def assert_plain_json(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert value is None or type(value) in (str, int, float, bool)


# create_call, one test per documented scenario.


def test_create_p2p_service_hosted_matches_contract_example() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        targets=[
            InvitationParticipantInfo(
                identity=user("a1b2c3d4-0000-4000-8000-00000000u001", "Test User")
            )
        ],
        media_config=ServiceHostedMediaConfig(),
        call_options=OutgoingCallOptions(is_content_sharing_notification_enabled=True),
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "targets": [
            invitation_wire(
                user_wire("a1b2c3d4-0000-4000-8000-00000000u001", "Test User")
            )
        ],
        "requestedModalities": ["audio"],
        "callOptions": {
            "@odata.type": "#microsoft.graph.outgoingCallOptions",
            "isContentSharingNotificationEnabled": True,
        },
        "mediaConfig": SERVICE_MEDIA_WIRE,
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_p2p_app_hosted_sends_blob() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        targets=[InvitationParticipantInfo(identity=user("u1", "User One"))],
        requested_modalities=[Modality.AUDIO, "video"],
        media_config=AppHostedMediaConfig(blob="<media session configuration>"),
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "targets": [invitation_wire(user_wire("u1", "User One"))],
        "requestedModalities": ["audio", "video"],
        "mediaConfig": {
            "@odata.type": "#microsoft.graph.appHostedMediaConfig",
            "blob": "<media session configuration>",
        },
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_group_call_with_three_targets() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        targets=[
            InvitationParticipantInfo(identity=user("u1", "User One")),
            InvitationParticipantInfo(identity=user("u2", "User Two")),
            InvitationParticipantInfo(identity=user("u3", "User Three")),
        ],
        media_config=ServiceHostedMediaConfig(),
        subject="Group call",
        direction="OUTGOING",
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "targets": [
            invitation_wire(user_wire("u1", "User One")),
            invitation_wire(user_wire("u2", "User Two")),
            invitation_wire(user_wire("u3", "User Three")),
        ],
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_MEDIA_WIRE,
        "subject": "Group call",
        "direction": "outgoing",
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_meeting_join_matches_contract_example() -> None:
    organizer = user(
        "a1b2c3d4-0000-4000-8000-00000000u002", "Test Organizer", tenant_id=TENANT
    )
    request = protocol.create_call(
        callback_uri=CALLBACK,
        media_config=ServiceHostedMediaConfig(),
        chat_info=ChatInfo(
            thread_id="19:meeting_FAKEFAKEFAKEFAKEFAKEFAKE@thread.v2", message_id="0"
        ),
        meeting_info=OrganizerMeetingInfo(organizer=organizer),
        tenant_id=TENANT,
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_MEDIA_WIRE,
        "chatInfo": {
            "@odata.type": "#microsoft.graph.chatInfo",
            "threadId": "19:meeting_FAKEFAKEFAKEFAKEFAKEFAKE@thread.v2",
            "messageId": "0",
        },
        "meetingInfo": {
            "@odata.type": "#microsoft.graph.organizerMeetingInfo",
            "organizer": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                    "@odata.type": "#microsoft.graph.identity",
                    "id": "a1b2c3d4-0000-4000-8000-00000000u002",
                    "tenantId": TENANT,
                    "displayName": "Test Organizer",
                },
            },
        },
        "tenantId": TENANT,
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_meeting_join_by_token() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        media_config=ServiceHostedMediaConfig(),
        meeting_info=TokenMeetingInfo(token="meeting-token-fake"),
        tenant_id=TENANT,
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_MEDIA_WIRE,
        "meetingInfo": {
            "@odata.type": "#microsoft.graph.tokenMeetingInfo",
            "token": "meeting-token-fake",
        },
        "tenantId": TENANT,
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_meeting_join_by_join_meeting_id() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        media_config=ServiceHostedMediaConfig(),
        meeting_info=JoinMeetingIdMeetingInfo(
            join_meeting_id="1234567", passcode="psw123"
        ),
        tenant_id=TENANT,
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_MEDIA_WIRE,
        "meetingInfo": {
            "@odata.type": "#microsoft.graph.joinMeetingIdMeetingInfo",
            "joinMeetingId": "1234567",
            "passcode": "psw123",
        },
        "tenantId": TENANT,
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_pstn_call_from_application_instance() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        source=ParticipantInfo(
            identity=IdentitySet(
                application_instance=Identity(id="ai-01", display_name="Calling Bot")
            )
        ),
        targets=[
            InvitationParticipantInfo(identity=IdentitySet(phone=Identity(id="+12345")))
        ],
        media_config=ServiceHostedMediaConfig(),
        tenant_id=TENANT,
    )

    expected = {
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": CALLBACK,
        "source": {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "applicationInstance": {
                    "@odata.type": "#microsoft.graph.identity",
                    "id": "ai-01",
                    "displayName": "Calling Bot",
                },
            },
        },
        "targets": [invitation_wire(phone_wire("+12345"))],
        "requestedModalities": ["audio"],
        "mediaConfig": SERVICE_MEDIA_WIRE,
        "tenantId": TENANT,
    }
    assert_request(
        request, "POST", "/communications/calls", expected, None, ResponseKind.CALL
    )


def test_create_writes_additional_data_of_models() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        targets=[InvitationParticipantInfo(identity=user("u1", "User One"))],
        media_config=ServiceHostedMediaConfig(
            additional_data={"removeFromDefaultAudioGroup": False}
        ),
    )

    assert request.body is not None
    assert request.body["mediaConfig"] == {
        "@odata.type": "#microsoft.graph.serviceHostedMediaConfig",
        "removeFromDefaultAudioGroup": False,
    }


# Incoming call actions.


def test_answer_matches_contract_example() -> None:
    request = protocol.answer(
        "a1b2c3d4-0000-4000-8000-00000000c001",
        callback_uri=CALLBACK,
        media_config=ServiceHostedMediaConfig(
            pre_fetch_media=(
                MediaInfo(
                    uri="https://media.example.com/welcome.wav",
                    resource_id="a1b2c3d4-0000-4000-8000-00000000m001",
                ),
            )
        ),
        call_options=IncomingCallOptions(is_content_sharing_notification_enabled=False),
    )

    # The contract's example leaves "@odata.type" off the mediaInfo entries; the
    # builder writes it on every object, which the service accepts.
    expected = {
        "callbackUri": CALLBACK,
        "acceptedModalities": ["audio"],
        "mediaConfig": {
            "@odata.type": "#microsoft.graph.serviceHostedMediaConfig",
            "preFetchMedia": [
                {
                    "@odata.type": "#microsoft.graph.mediaInfo",
                    "uri": "https://media.example.com/welcome.wav",
                    "resourceId": "a1b2c3d4-0000-4000-8000-00000000m001",
                }
            ],
        },
        "callOptions": {
            "@odata.type": "#microsoft.graph.incomingCallOptions",
            "isContentSharingNotificationEnabled": False,
        },
    }
    assert_request(
        request,
        "POST",
        "/communications/calls/a1b2c3d4-0000-4000-8000-00000000c001/answer",
        expected,
        "a1b2c3d4-0000-4000-8000-00000000c001",
        ResponseKind.NONE,
    )


def test_answer_with_participant_capacity_and_video() -> None:
    request = protocol.answer(
        CALL_ID,
        callback_uri=CALLBACK,
        media_config=AppHostedMediaConfig(blob="blob"),
        accepted_modalities=("audio", Modality.VIDEO),
        participant_capacity=200,
    )

    expected = {
        "callbackUri": CALLBACK,
        "acceptedModalities": ["audio", "video"],
        "mediaConfig": {
            "@odata.type": "#microsoft.graph.appHostedMediaConfig",
            "blob": "blob",
        },
        "participantCapacity": 200,
    }
    assert_request(
        request, "POST", f"{CALL_PATH}/answer", expected, CALL_ID, ResponseKind.NONE
    )


def test_reject_sends_reason_in_lower_case() -> None:
    request = protocol.reject(CALL_ID, reason="Busy", callback_uri=CALLBACK)

    expected = {"reason": "busy", "callbackUri": CALLBACK}
    assert_request(
        request, "POST", f"{CALL_PATH}/reject", expected, CALL_ID, ResponseKind.NONE
    )


def test_reject_with_enum_and_without_options() -> None:
    with_enum = protocol.reject(CALL_ID, reason=RejectReason.FORBIDDEN)
    bare = protocol.reject(CALL_ID)

    assert with_enum.body == {"reason": "forbidden"}
    assert bare.body == {}


def test_redirect_with_timeout_and_callback() -> None:
    request = protocol.redirect(
        CALL_ID,
        targets=[
            InvitationParticipantInfo(identity=user("u1", "User One")),
            InvitationParticipantInfo(identity=IdentitySet(phone=Identity(id="+1555"))),
        ],
        timeout=60,
        callback_uri=CALLBACK,
    )

    expected = {
        "targets": [
            invitation_wire(user_wire("u1", "User One")),
            invitation_wire(phone_wire("+1555")),
        ],
        "timeout": 60,
        "callbackUri": CALLBACK,
    }
    assert_request(
        request, "POST", f"{CALL_PATH}/redirect", expected, CALL_ID, ResponseKind.NONE
    )


def test_transfer_blind() -> None:
    request = protocol.transfer(
        CALL_ID,
        transfer_target=InvitationParticipantInfo(
            identity=user("u9", "Transfer Target"), endpoint_type="default"
        ),
    )

    expected = {
        "transferTarget": invitation_wire(
            user_wire("u9", "Transfer Target"), endpointType="default"
        )
    }
    assert_request(
        request, "POST", f"{CALL_PATH}/transfer", expected, CALL_ID, ResponseKind.NONE
    )


def test_transfer_consultative_sends_replaces_call_id() -> None:
    request = protocol.transfer(
        CALL_ID,
        transfer_target=InvitationParticipantInfo(
            identity=user("u9", "Transfer Target"),
            replaces_call_id="e5d39592-99bd-4db8-bca8-30fb894ec51d",
        ),
    )

    expected = {
        "transferTarget": invitation_wire(
            user_wire("u9", "Transfer Target"),
            replacesCallId="e5d39592-99bd-4db8-bca8-30fb894ec51d",
        )
    }
    assert_request(
        request, "POST", f"{CALL_PATH}/transfer", expected, CALL_ID, ResponseKind.NONE
    )


def test_transfer_with_transferee() -> None:
    request = protocol.transfer(
        CALL_ID,
        transfer_target=InvitationParticipantInfo(identity=user("u9", "Target")),
        transferee=ParticipantInfo(
            identity=user("u5", "Transferee"), participant_id="p-05"
        ),
    )

    expected = {
        "transferTarget": invitation_wire(user_wire("u9", "Target")),
        "transferee": {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": user_wire("u5", "Transferee"),
            "participantId": "p-05",
        },
    }
    assert_request(
        request, "POST", f"{CALL_PATH}/transfer", expected, CALL_ID, ResponseKind.NONE
    )


# Actions on a live call.


def test_get_and_delete_call() -> None:
    assert_request(
        protocol.get_call(CALL_ID), "GET", CALL_PATH, None, CALL_ID, ResponseKind.CALL
    )
    assert_request(
        protocol.delete_call(CALL_ID),
        "DELETE",
        CALL_PATH,
        None,
        CALL_ID,
        ResponseKind.NONE,
    )


def test_keep_alive_has_no_body() -> None:
    request = protocol.keep_alive(CALL_ID)

    assert_request(
        request, "POST", f"{CALL_PATH}/keepAlive", None, CALL_ID, ResponseKind.NONE
    )


@pytest.mark.parametrize(
    ("builder", "action"),
    [
        (protocol.mute, "mute"),
        (protocol.unmute, "unmute"),
        (protocol.cancel_media_processing, "cancelMediaProcessing"),
        (protocol.subscribe_to_tone, "subscribeToTone"),
        (protocol.add_large_gallery_view, "addLargeGalleryView"),
    ],
)
def test_client_context_action(builder: Any, action: str) -> None:
    with_context = builder(CALL_ID, client_context="ctx-0001")
    without_context = builder(CALL_ID, client_context=None)

    assert_request(
        with_context,
        "POST",
        f"{CALL_PATH}/{action}",
        {"clientContext": "ctx-0001"},
        CALL_ID,
        ResponseKind.OPERATION,
    )
    assert_request(
        without_context,
        "POST",
        f"{CALL_PATH}/{action}",
        {},
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_play_prompt_matches_contract_example() -> None:
    request = protocol.play_prompt(
        CALL_ID,
        prompts=[
            MediaPrompt.from_uri(
                "https://media.example.com/menu.wav",
                resource_id="a1b2c3d4-0000-4000-8000-00000000m002",
            )
        ],
        client_context="ctx-0001",
    )

    expected = {
        "clientContext": "ctx-0001",
        "prompts": [
            {
                "@odata.type": "#microsoft.graph.mediaPrompt",
                "mediaInfo": {
                    "@odata.type": "#microsoft.graph.mediaInfo",
                    "uri": "https://media.example.com/menu.wav",
                    "resourceId": "a1b2c3d4-0000-4000-8000-00000000m002",
                },
            }
        ],
    }
    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/playPrompt",
        expected,
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_play_prompt_accepts_loopback_http_media() -> None:
    request = protocol.play_prompt(
        CALL_ID,
        prompts=[MediaPrompt.from_uri("http://127.0.0.1:8080/hello.wav")],
        client_context=None,
    )

    assert request.body == {
        "prompts": [media_prompt_wire("http://127.0.0.1:8080/hello.wav")]
    }


def test_record_response_with_all_options() -> None:
    request = protocol.record_response(
        CALL_ID,
        prompts=[MediaPrompt.from_uri("https://media.example.com/beep.wav", "m-03")],
        barge_in_allowed=True,
        initial_silence_timeout=10,
        max_silence_timeout=2,
        max_record_duration=120,
        play_beep=False,
        stop_tones=["#", Tone.TONE1, "star"],
        client_context="ctx-0002",
    )

    expected = {
        "prompts": [media_prompt_wire("https://media.example.com/beep.wav", "m-03")],
        "bargeInAllowed": True,
        "initialSilenceTimeoutInSeconds": 10,
        "maxSilenceTimeoutInSeconds": 2,
        "maxRecordDurationInSeconds": 120,
        "playBeep": False,
        "stopTones": ["#", "1", "*"],
        "clientContext": "ctx-0002",
    }
    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/recordResponse",
        expected,
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_record_response_without_options() -> None:
    request = protocol.record_response(CALL_ID, client_context=None)

    assert request.body == {}


def test_send_dtmf_tones_maps_keys_to_tone_names() -> None:
    request = protocol.send_dtmf_tones(
        CALL_ID,
        tones=[Tone.TONE1, "#", "star", "A", "TONE9"],
        delay_between_tones_ms=500,
        client_context="ctx-0003",
    )

    expected = {
        "tones": ["tone1", "pound", "star", "a", "tone9"],
        "delayBetweenTonesMs": 500,
        "clientContext": "ctx-0003",
    }
    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/sendDtmfTones",
        expected,
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_update_recording_status() -> None:
    request = protocol.update_recording_status(
        CALL_ID, status="NotRecording", client_context="ctx-0004"
    )
    with_enum = protocol.update_recording_status(
        CALL_ID, status=RecordingStatus.RECORDING, client_context=None
    )

    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/updateRecordingStatus",
        {"status": "notRecording", "clientContext": "ctx-0004"},
        CALL_ID,
        ResponseKind.OPERATION,
    )
    assert with_enum.body == {"status": "recording"}


def test_change_screen_sharing_role() -> None:
    request = protocol.change_screen_sharing_role(CALL_ID, role="Sharer")
    with_enum = protocol.change_screen_sharing_role(
        CALL_ID, role=ScreenSharingRole.VIEWER
    )

    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/changeScreenSharingRole",
        {"role": "sharer"},
        CALL_ID,
        ResponseKind.NONE,
    )
    assert with_enum.body == {"role": "viewer"}


def test_log_teleconference_device_quality() -> None:
    quality = TeleconferenceDeviceQuality(
        call_chain_id="0f2f8d1b-0000-4000-8000-000000000001",
        participant_id="0f2f8d1b-0000-4000-8000-000000000002",
        media_leg_id="0f2f8d1b-0000-4000-8000-000000000003",
        device_name="Room device",
        device_description="Conference room 4",
        cloud_service_name="vtc-cloud",
        media_quality_list=(
            TeleconferenceDeviceAudioQuality(
                channel_index=1,
                media_duration="PT1H",
                local_ip_address="10.0.0.2",
                local_port=50000,
                average_inbound_jitter="PT0.02S",
                average_inbound_packet_loss_rate_in_percentage=0.5,
            ),
            TeleconferenceDeviceVideoQuality(
                channel_index=2,
                remote_ip_address="10.0.0.3",
                average_inbound_bit_rate=1500.0,
                average_outbound_frame_rate=30.0,
            ),
        ),
    )

    request = protocol.log_teleconference_device_quality(quality=quality)

    expected = {
        "quality": {
            "@odata.type": "#microsoft.graph.teleconferenceDeviceQuality",
            "callChainId": "0f2f8d1b-0000-4000-8000-000000000001",
            "participantId": "0f2f8d1b-0000-4000-8000-000000000002",
            "mediaLegId": "0f2f8d1b-0000-4000-8000-000000000003",
            "deviceName": "Room device",
            "deviceDescription": "Conference room 4",
            "cloudServiceName": "vtc-cloud",
            "mediaQualityList": [
                {
                    "@odata.type": "#microsoft.graph.teleconferenceDeviceAudioQuality",
                    "channelIndex": 1,
                    "mediaDuration": "PT1H",
                    "localIPAddress": "10.0.0.2",
                    "localPort": 50000,
                    "averageInboundJitter": "PT0.02S",
                    "averageInboundPacketLossRateInPercentage": 0.5,
                },
                {
                    "@odata.type": "#microsoft.graph.teleconferenceDeviceVideoQuality",
                    "channelIndex": 2,
                    "remoteIPAddress": "10.0.0.3",
                    "averageInboundBitRate": 1500.0,
                    "averageOutboundFrameRate": 30.0,
                },
            ],
        }
    }
    assert_request(
        request,
        "POST",
        "/communications/calls/logTeleconferenceDeviceQuality",
        expected,
        None,
        ResponseKind.NONE,
    )


def test_get_operation() -> None:
    request = protocol.get_operation(CALL_ID, "a1b2c3d4-0000-4000-8000-00000000o001")

    assert_request(
        request,
        "GET",
        f"{CALL_PATH}/operations/a1b2c3d4-0000-4000-8000-00000000o001",
        None,
        CALL_ID,
        ResponseKind.OPERATION,
    )


# Participants.


def test_list_and_get_participants() -> None:
    assert_request(
        protocol.list_participants(CALL_ID),
        "GET",
        f"{CALL_PATH}/participants",
        None,
        CALL_ID,
        ResponseKind.PARTICIPANT_LIST,
    )
    assert_request(
        protocol.get_participant(CALL_ID, PARTICIPANT_ID),
        "GET",
        PARTICIPANT_PATH,
        None,
        CALL_ID,
        ResponseKind.PARTICIPANT,
    )


def test_invite_with_replaces_call_id() -> None:
    request = protocol.invite_participants(
        CALL_ID,
        participants=[
            InvitationParticipantInfo(
                identity=user("u7", "Moved User"),
                replaces_call_id="a1b2c3d4-0000-4000-8000-00000000c009",
            )
        ],
        client_context="ctx-0005",
    )

    expected = {
        "participants": [
            invitation_wire(
                user_wire("u7", "Moved User"),
                replacesCallId="a1b2c3d4-0000-4000-8000-00000000c009",
            )
        ],
        "clientContext": "ctx-0005",
    }
    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/participants/invite",
        expected,
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_mute_participant() -> None:
    request = protocol.mute_participant(
        CALL_ID, PARTICIPANT_ID, client_context="ctx-0006"
    )

    assert_request(
        request,
        "POST",
        f"{PARTICIPANT_PATH}/mute",
        {"clientContext": "ctx-0006"},
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_start_hold_music_with_custom_prompt() -> None:
    request = protocol.start_hold_music(
        CALL_ID,
        PARTICIPANT_ID,
        custom_prompt=MediaPrompt.from_uri("https://media.example.com/hold.wav"),
        client_context="ctx-0007",
    )

    expected = {
        "customPrompt": media_prompt_wire("https://media.example.com/hold.wav"),
        "clientContext": "ctx-0007",
    }
    assert_request(
        request,
        "POST",
        f"{PARTICIPANT_PATH}/startHoldMusic",
        expected,
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_start_and_stop_hold_music_without_options() -> None:
    start = protocol.start_hold_music(CALL_ID, PARTICIPANT_ID, client_context=None)
    stop = protocol.stop_hold_music(CALL_ID, PARTICIPANT_ID, client_context="c")

    assert start.body == {}
    assert_request(
        stop,
        "POST",
        f"{PARTICIPANT_PATH}/stopHoldMusic",
        {"clientContext": "c"},
        CALL_ID,
        ResponseKind.OPERATION,
    )


def test_remove_participant() -> None:
    request = protocol.remove_participant(CALL_ID, PARTICIPANT_ID)

    assert_request(
        request, "DELETE", PARTICIPANT_PATH, None, CALL_ID, ResponseKind.NONE
    )


# Audio routing groups and content sharing sessions.


def test_create_audio_routing_group() -> None:
    request = protocol.create_audio_routing_group(
        CALL_ID,
        AudioRoutingGroup(
            id="oneToOne",
            routing_mode="ONETOONE",
            sources=("p-01",),
            receivers=("p-02",),
        ),
    )

    expected = {
        "@odata.type": "#microsoft.graph.audioRoutingGroup",
        "id": "oneToOne",
        "routingMode": "oneToOne",
        "sources": ["p-01"],
        "receivers": ["p-02"],
    }
    assert_request(
        request,
        "POST",
        f"{CALL_PATH}/audioRoutingGroups",
        expected,
        CALL_ID,
        ResponseKind.AUDIO_ROUTING_GROUP,
    )


def test_update_audio_routing_group_sends_only_given_fields() -> None:
    request = protocol.update_audio_routing_group(
        CALL_ID, "group-1", receivers=["p-02", "p-03"]
    )
    with_mode = protocol.update_audio_routing_group(
        CALL_ID, "group-1", routing_mode=RoutingMode.MULTICAST, sources=("p-01",)
    )

    assert_request(
        request,
        "PATCH",
        f"{CALL_PATH}/audioRoutingGroups/group-1",
        {"receivers": ["p-02", "p-03"]},
        CALL_ID,
        ResponseKind.AUDIO_ROUTING_GROUP,
    )
    assert with_mode.body == {"routingMode": "multicast", "sources": ["p-01"]}


def test_list_get_delete_audio_routing_groups() -> None:
    assert_request(
        protocol.list_audio_routing_groups(CALL_ID),
        "GET",
        f"{CALL_PATH}/audioRoutingGroups",
        None,
        CALL_ID,
        ResponseKind.AUDIO_ROUTING_GROUP_LIST,
    )
    assert_request(
        protocol.get_audio_routing_group(CALL_ID, "group-1"),
        "GET",
        f"{CALL_PATH}/audioRoutingGroups/group-1",
        None,
        CALL_ID,
        ResponseKind.AUDIO_ROUTING_GROUP,
    )
    assert_request(
        protocol.delete_audio_routing_group(CALL_ID, "group-1"),
        "DELETE",
        f"{CALL_PATH}/audioRoutingGroups/group-1",
        None,
        CALL_ID,
        ResponseKind.NONE,
    )


def test_content_sharing_sessions() -> None:
    assert_request(
        protocol.list_content_sharing_sessions(CALL_ID),
        "GET",
        f"{CALL_PATH}/contentSharingSessions",
        None,
        CALL_ID,
        ResponseKind.CONTENT_SHARING_SESSION_LIST,
    )
    assert_request(
        protocol.get_content_sharing_session(CALL_ID, "session-1"),
        "GET",
        f"{CALL_PATH}/contentSharingSessions/session-1",
        None,
        CALL_ID,
        ResponseKind.CONTENT_SHARING_SESSION,
    )


# Paths and reprs.


def test_ids_are_percent_encoded_in_paths() -> None:
    request = protocol.get_participant("call/1?x", "participant #2")

    assert request.path == (
        "/communications/calls/call%2F1%3Fx/participants/participant%20%232"
    )
    assert request.call_id == "call/1?x"


def test_actions_use_unqualified_names() -> None:
    requests = [
        protocol.play_prompt(
            CALL_ID, prompts=[MediaPrompt.from_uri(CALLBACK)], client_context=None
        ),
        protocol.send_dtmf_tones(CALL_ID, tones=["1"], client_context=None),
        protocol.keep_alive(CALL_ID),
    ]

    for request in requests:
        assert "microsoft.graph" not in request.path


def test_request_repr_hides_body_values() -> None:
    request = protocol.create_call(
        callback_uri=CALLBACK,
        media_config=ServiceHostedMediaConfig(),
        meeting_info=TokenMeetingInfo(token="secret-meeting-token"),
        tenant_id=TENANT,
    )

    text = repr(request)

    assert "secret-meeting-token" not in text
    assert "'meetingInfo': ..." in text
    assert "/communications/calls" in text


# Readers.


def test_parse_json_decodes_bytes() -> None:
    assert protocol.parse_json(b'{"id": "x"}') == {"id": "x"}


@pytest.mark.parametrize("body", [b"", b"{", b"<html>oops</html>", b"\xff\xfe\x00"])
def test_parse_json_rejects_invalid_json(body: bytes) -> None:
    with pytest.raises(ResponseParseError, match="not valid JSON"):
        protocol.parse_json(body)


def test_parse_operation_of_contract_play_prompt_response() -> None:
    body = json.dumps(
        {
            "@odata.type": "#microsoft.graph.playPromptOperation",
            "id": "a1b2c3d4-0000-4000-8000-00000000o001",
            "status": "running",
            "clientContext": "ctx-0001",
            "resultInfo": None,
        }
    ).encode()

    operation = protocol.parse_operation(protocol.parse_json(body))

    assert type(operation) is PlayPromptOperation
    assert operation.id == "a1b2c3d4-0000-4000-8000-00000000o001"
    assert operation.status is OperationStatus.RUNNING
    assert operation.client_context == "ctx-0001"
    assert operation.result_info is None
    assert operation.is_terminal is False


def test_parse_invite_operation_pascal_status() -> None:
    operation = protocol.parse_operation(
        {
            "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
            "id": "op-9",
            "status": "Running",
            "participants": [
                {
                    "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                    "identity": {"user": {"id": "u7"}},
                }
            ],
        }
    )

    assert type(operation) is InviteParticipantsOperation
    assert operation.status is OperationStatus.RUNNING
    assert operation.is_running is True
    assert operation.participants is not None
    assert operation.participants[0].identity.user == Identity(id="u7")


def test_parse_call_of_contract_create_response() -> None:
    data = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#app/calls/$entity",
        "@odata.type": "#microsoft.graph.call",
        "id": CALL_ID,
        "state": "establishing",
        "direction": "outgoing",
        "callbackUri": CALLBACK,
        "callChainId": "a1b2c3d4-0000-4000-8000-0000000cha02",
        "myParticipantId": "a1b2c3d4-0000-4000-8000-00000000p0b2",
        "source": {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "application": {
                    "@odata.type": "#microsoft.graph.identity",
                    "id": "a1b2c3d4-0000-4000-8000-00000000ap01",
                    "displayName": "Test Bot",
                },
            },
            "countryCode": None,
            "endpointType": None,
            "region": None,
            "languageId": None,
        },
        "targets": [
            {
                "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                "identity": {
                    "@odata.type": "#microsoft.graph.identitySet",
                    "user": {
                        "@odata.type": "#microsoft.graph.identity",
                        "id": "a1b2c3d4-0000-4000-8000-00000000u001",
                        "displayName": "Test User",
                    },
                },
                "endpointType": None,
                "replacesCallId": None,
            }
        ],
        "requestedModalities": ["audio"],
        "mediaConfig": {
            "@odata.type": "#microsoft.graph.serviceHostedMediaConfig",
            "preFetchMedia": [],
        },
        "callOptions": {
            "@odata.type": "#microsoft.graph.outgoingCallOptions",
            "isContentSharingNotificationEnabled": True,
        },
        "subject": None,
        "mediaState": None,
        "resultInfo": None,
        "chatInfo": None,
        "meetingInfo": None,
        "transcription": None,
        "toneInfo": None,
    }

    call = protocol.parse_call(data)

    assert call.id == CALL_ID
    assert call.state is CallState.ESTABLISHING
    assert call.direction is CallDirection.OUTGOING
    assert call.my_participant_id == "a1b2c3d4-0000-4000-8000-00000000p0b2"
    assert call.source is not None
    assert call.source.identity.application == Identity(
        id="a1b2c3d4-0000-4000-8000-00000000ap01", display_name="Test Bot"
    )
    assert call.targets is not None
    assert call.targets[0].identity.user is not None
    assert call.targets[0].identity.user.display_name == "Test User"
    assert call.requested_modalities == (Modality.AUDIO,)
    assert call.media_config == ServiceHostedMediaConfig(pre_fetch_media=())
    assert call.call_options == OutgoingCallOptions(
        is_content_sharing_notification_enabled=True
    )
    assert call.subject is None
    # The response's @odata.context describes the reply, not the call: not kept.
    assert call.additional_data == {}


def test_parse_participant_list_of_roster() -> None:
    data = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#participants",
        "value": [
            {
                "@odata.type": "#microsoft.graph.participant",
                "id": "p-1",
                "info": {"identity": {"user": {"id": "u1"}}, "languageId": "en-US"},
                "mediaStreams": [
                    {
                        "mediaType": "audio",
                        "sourceId": "10",
                        "direction": "sendReceive",
                        "serverMuted": False,
                        "label": "main-audio",
                    }
                ],
                "isMuted": True,
                "isInLobby": True,
            },
            {"id": "p-2"},
        ],
    }

    participants = protocol.parse_participant_list(data)

    assert [participant.id for participant in participants] == ["p-1", "p-2"]
    assert participants[0].is_in_lobby is True
    assert participants[0].info is not None
    assert participants[0].info.language_id == "en-US"
    assert participants[0].media_streams is not None
    assert participants[0].media_streams[0].label == "main-audio"


def test_parse_participant_list_reports_path_of_bad_entry() -> None:
    data = {"value": [{"id": "p-1"}, {"id": "p-2", "isMuted": "yes"}]}

    with pytest.raises(ResponseParseError) as caught:
        protocol.parse_participant_list(data)

    assert caught.value.path == "value[1].isMuted"


def test_parse_participant_list_needs_value_array() -> None:
    with pytest.raises(ResponseParseError) as caught:
        protocol.parse_participant_list({"@odata.context": "x"})

    assert caught.value.path == "value"


def test_parse_audio_routing_group_and_list() -> None:
    group_wire = {
        "@odata.type": "#microsoft.graph.audioRoutingGroup",
        "id": "oneToOne",
        "routingMode": "oneToOne",
        "sources": ["p-1"],
        "receivers": ["p-2"],
    }

    group = protocol.parse_audio_routing_group(group_wire)
    groups = protocol.parse_audio_routing_group_list({"value": [group_wire]})

    assert group == AudioRoutingGroup(
        id="oneToOne",
        routing_mode=RoutingMode.ONE_TO_ONE,
        sources=("p-1",),
        receivers=("p-2",),
    )
    assert groups == [group]


def test_parse_content_sharing_sessions() -> None:
    session_wire = {
        "@odata.type": "#microsoft.graph.contentSharingSession",
        "id": "session-1",
    }

    session = protocol.parse_content_sharing_session(session_wire)
    sessions = protocol.parse_content_sharing_session_list({"value": [session_wire]})

    assert session.id == "session-1"
    assert [item.id for item in sessions] == ["session-1"]


def test_parse_response_dispatches_on_kind() -> None:
    body = b'{"@odata.type": "#microsoft.graph.playPromptOperation", "id": "op-1"}'

    operation = protocol.parse_response(ResponseKind.OPERATION, body)
    nothing = protocol.parse_response(ResponseKind.NONE, b"")

    assert type(operation) is PlayPromptOperation
    assert operation.id == "op-1"
    assert nothing is None


def test_parse_error_body_of_not_found_example() -> None:
    body = (
        b'{ "error": { "code": "itemNotFound", "message": "Call not found.",'
        b' "innerError": { "date": "2030-01-01T00:00:00",'
        b' "request-id": "a1b2c3d4-0000-4000-8000-00000000q002",'
        b' "client-request-id": "a1b2c3d4-0000-4000-8000-00000000r002" } } }'
    )

    details = protocol.parse_error_body(body)

    assert details.code == "itemNotFound"
    assert details.message == "Call not found."
    assert details.request_id == "a1b2c3d4-0000-4000-8000-00000000q002"
    assert details.client_request_id == "a1b2c3d4-0000-4000-8000-00000000r002"
    assert details.date == "2030-01-01T00:00:00"
    assert details.inner is not None
    assert details.inner["date"] == "2030-01-01T00:00:00"


def test_parse_error_body_nested_inner_error() -> None:
    body = json.dumps(
        {
            "error": {
                "code": "TooManyRequests",
                "message": "Please retry again later.",
                "innerError": {
                    "code": "429",
                    "innerError": {"request-id": "req-7", "date": "2030-01-02"},
                },
            }
        }
    )

    details = protocol.parse_error_body(body)

    assert details.code == "TooManyRequests"
    assert details.request_id == "req-7"
    assert details.date == "2030-01-02"
    assert details.client_request_id is None


def test_parse_error_body_numeric_code_and_odata_message() -> None:
    details = protocol.parse_error_body(
        '{"error": {"code": 7505, "message": {"lang": "en", "value": "mismatch"}}}'
    )

    assert details.code == "7505"
    assert details.message == "mismatch"
    assert details.inner is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        (b"upstream connect error", "upstream connect error"),
        (b"", ""),
        (b'{"unexpected": true}', '{"unexpected": true}'),
        (b'{"error": "plain text"}', '{"error": "plain text"}'),
        (b"\xff\xfebroken", "\ufffd\ufffdbroken"),
    ],
)
def test_parse_error_body_tolerates_other_bodies(body: bytes, message: str) -> None:
    details = protocol.parse_error_body(body)

    assert details == GraphErrorDetails(message=message)


def test_parse_error_body_missing_fields() -> None:
    details = protocol.parse_error_body(b'{"error": {}}')

    assert details == GraphErrorDetails()


def test_parse_error_body_shortens_long_text() -> None:
    details = protocol.parse_error_body("x" * 5000)

    assert len(details.message) == 500
    assert details.message.endswith("...")


NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 2.128 ", 2.128),
        ("0", 0.0),
        ("-5", 0.0),
        ("Tue, 01 Jan 2030 12:00:30 GMT", 30.0),
        ("Tue, 01 Jan 2030 11:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Tue, 99 Foo 2030", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert protocol.parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_date_defaults_to_current_time() -> None:
    assert protocol.parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://graph.microsoft.com/v1.0/communications/calls/"
            f"{CALL_ID}/operations/a1b2c3d4-0000-4000-8000-00000000o001",
            "a1b2c3d4-0000-4000-8000-00000000o001",
        ),
        (f"/communications/calls/{CALL_ID}/operations/op%2F1/", "op/1"),
        (f"https://host/communications/calls/{CALL_ID}/Operations/OP1?x=1", "OP1"),
        (f"https://graph.microsoft.com/v1.0/communications/calls/{CALL_ID}", None),
        ("https://graph.microsoft.com/v1.0/communications/calls/x/operations/", None),
        ("", None),
        (None, None),
        ("http://[broken", None),
    ],
)
def test_operation_id_from_location(url: str | None, expected: str | None) -> None:
    assert protocol.operation_id_from_location(url) == expected
